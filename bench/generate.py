"""A realistic synthetic pool of Chinese expert profiles, and decision items,
built from real paper metadata (CSL, `shared/eval/zh_csl`).

Each expert works in one CSL discipline: 2–6 papers of it are their
achievements (at least one full record with keywords and abstract, the rest
title-only records of the same discipline, now and then one paper of a
neighbouring discipline of the same category), their keywords come from those
papers, their bio is a template filled with their post, field and keywords
plus the first sentence of one of their abstracts, and their domains are
mapped from the discipline onto the service's taxonomy
(`experts_service/reference/seed.py` DOMAIN_TREE). Employers, titles and
positions are drawn from generated lists that fit the discipline.

Decision items are held-out full records (never in any profile): title plus
the first sentence of the abstract, with the paper's keywords.

The data is read at run time and never copied into the repository. Output is
deterministic for a seed, and expert i is the same expert whatever the pool
size, so a 10k pool is the first 10k experts of the 100k pool.

    python -m bench.generate --size 1000 --out /tmp/profiles.jsonl --queries-out /tmp/queries.jsonl
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from experts_service.reference.seed import DOMAIN_TREE

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPOSITORY_ROOT.parent / "shared" / "eval"
CSL_FOLDER = "zh_csl"
PAPERS_FILE = "csl_papers.jsonl"
TITLES_FILE = "csl_titles.jsonl.gz"
DEFAULT_SEED = 20261123

# Share of the full records held out as decision items (never in a profile).
HELD_OUT_SHARE = 0.15
# Papers per expert, and how many of them are full records (keywords, abstract).
ACHIEVEMENTS_RANGE = (2, 6)
FULL_RECORDS_RANGE = (1, 3)
# Experts with one paper from another discipline of their category.
CROSS_DISCIPLINE_SHARE = 0.15
KEYWORD_RANGE = (3, 8)
# The service refuses longer keywords (experts/schemas.py).
MAX_KEYWORD_CHARS = 30
# Title-only records get the known keywords found inside the title.
MIN_PROBED_KEYWORD_CHARS = 2
MAX_PROBED_KEYWORD_CHARS = 12
MAX_KEYWORDS_PER_TITLE = 4
# A keyword labelling papers of this many disciplines is generic (技术, 设计): not taken from titles.
GENERIC_KEYWORD_DISCIPLINES = 3
# A bio quotes at most this much of an abstract's first sentence.
MAX_SENTENCE_CHARS = 160
# Primary domain: the discipline's first mapped domain this often, else another of its list.
PRIMARY_IS_FIRST_MAPPED_SHARE = 0.7
SECONDARY_DOMAIN_SHARE = 0.6
MAX_SECONDARY_DOMAINS = 2
# Domains a decision item names (the first is the one a panel request requires).
ITEM_DOMAINS = 2
# Employers in the generated list, per (category, kind), drawn once per seed.
EMPLOYERS_PER_CATEGORY_KIND = 40
BIO_CONTRIBUTION_SHARE = 0.6
BIO_HONOUR_SHARE = 0.25
PROJECTS_RANGE = (3, 15)
PAPERS_RANGE = (20, 80)
YEARS_RANGE = (8, 35)
FEMALE_SHARE = 0.3
SINGLE_GIVEN_NAME_SHARE = 0.3

# ---------------------------------------------------------------------------
# CSL discipline (学科) -> second-level domains of DOMAIN_TREE, most fitting first.
# ---------------------------------------------------------------------------
DISCIPLINE_DOMAINS: dict[str, tuple[str, ...]] = {
    "军事学": ("应急管理", "科技创新"),
    "作物学": ("农业产业", "乡村振兴"),
    "农业资源利用": ("农业产业", "资源开发", "生态保护"),
    "园艺学": ("农业产业", "乡村振兴"),
    "林学/林业工程": ("生态保护", "农业产业", "碳达峰碳中和"),
    "植物保护": ("农业产业", "生态保护"),
    "水产": ("农业产业", "资源开发"),
    "畜牧学/兽医学": ("农业产业", "公共卫生"),
    "中医学/中药学": ("医药产业", "医疗保障", "公共卫生"),
    "公共卫生与预防医学": ("公共卫生", "应急管理", "医疗保障"),
    "口腔医学": ("医疗保障", "公共卫生"),
    "基础医学/临床医学": ("医疗保障", "公共卫生", "医药产业"),
    "药学": ("医药产业", "科技创新", "市场监管"),
    "历史学": ("文物保护", "公共文化服务"),
    "哲学": ("公共文化服务", "高等教育"),
    "交通运输工程": ("交通运输", "城乡规划", "公用事业"),
    "信息与通信工程": ("数字经济", "科技创新"),
    "光学工程": ("科技创新", "产业规划"),
    "兵器科学与技术": ("科技创新", "应急管理"),
    "农业工程": ("农业产业", "乡村振兴", "科技创新"),
    "冶金工程": ("产业规划", "污染防治", "碳达峰碳中和"),
    "力学": ("科技创新", "公用事业"),
    "化学/化学工程与技术": ("产业规划", "污染防治", "科技创新"),
    "土木工程": ("城乡规划", "住房保障", "公用事业"),
    "建筑学": ("城乡规划", "住房保障", "文物保护"),
    "控制科学与工程": ("科技创新", "数字经济"),
    "机械工程": ("产业规划", "科技创新"),
    "材料科学与工程": ("科技创新", "产业规划"),
    "核科学与技术": ("科技创新", "碳达峰碳中和", "应急管理"),
    "水利工程": ("公用事业", "资源开发", "应急管理"),
    "测绘科学与技术": ("城乡规划", "资源开发"),
    "环境科学与工程": ("污染防治", "生态保护", "碳达峰碳中和"),
    "电子科学与技术": ("数字经济", "科技创新"),
    "电气工程": ("碳达峰碳中和", "公用事业", "科技创新"),
    "石油与天然气工程": ("资源开发", "碳达峰碳中和"),
    "矿业工程": ("资源开发", "应急管理", "生态保护"),
    "纺织科学与工程": ("产业规划", "市场监管"),
    "航空宇航科学与技术": ("科技创新", "产业规划"),
    "船舶与海洋工程": ("产业规划", "交通运输"),
    "计算机科学与技术": ("数字经济", "科技创新"),
    "食品科学与工程": ("市场监管", "农业产业", "公共卫生"),
    "体育学": ("公共文化服务", "基础教育"),
    "心理学": ("社会救助", "基础教育", "公共卫生"),
    "教育学": ("基础教育", "高等教育", "人才政策"),
    "中国语言文学": ("公共文化服务", "文化产业"),
    "新闻传播学": ("文化产业", "公共文化服务", "数字经济"),
    "政治学": ("城市治理", "行政立法"),
    "民族学": ("城市治理", "公共文化服务", "乡村振兴"),
    "法学": ("行政立法", "合法性审查", "行政复议与诉讼"),
    "社会学": ("城市治理", "社会保障", "社会救助"),
    "地球物理学": ("资源开发", "应急管理"),
    "地理学": ("城乡规划", "生态保护", "资源开发"),
    "地质学/地质资源与地质工程": ("资源开发", "应急管理"),
    "大气科学": ("污染防治", "碳达峰碳中和", "应急管理"),
    "天文学": ("科技创新",),
    "数学": ("科技创新", "数字经济"),
    "海洋科学": ("生态保护", "资源开发"),
    "物理学": ("科技创新",),
    "生物学/生物科学与工程": ("医药产业", "生态保护", "科技创新"),
    "公共管理": ("城市治理", "财政预算", "社会保障"),
    "农林经济管理": ("农村改革", "乡村振兴", "农业产业"),
    "图书馆、情报与档案管理": ("公共文化服务", "数字经济"),
    "工商管理": ("产业规划", "市场监管", "就业创业"),
    "应用经济学": ("金融监管", "财政预算", "减税降费"),
    "理论经济学": ("产业规划", "公共资源配置"),
    "艺术学": ("文化产业", "公共文化服务"),
}
# A discipline missing above falls back on these, by category.
CATEGORY_DOMAINS: dict[str, tuple[str, ...]] = {
    "工学": ("科技创新", "产业规划"), "理学": ("科技创新",), "医学": ("公共卫生", "医疗保障"),
    "农学": ("农业产业", "乡村振兴"), "法学": ("行政立法", "城市治理"), "管理学": ("城市治理", "产业规划"),
    "教育学": ("基础教育", "高等教育"), "经济学": ("产业规划", "财政预算"), "文学": ("公共文化服务",),
    "哲学": ("公共文化服务",), "历史学": ("文物保护",), "艺术学": ("文化产业",), "军事学": ("应急管理",),
}

# Domain name -> (id, parent name or None); ids in the order seed.py inserts them.
DOMAINS: dict[str, tuple[int, str | None]] = {}
for _first_name, _children in DOMAIN_TREE:
    DOMAINS[_first_name] = (len(DOMAINS) + 1, None)
    for _child_name in _children:
        DOMAINS[_child_name] = (len(DOMAINS) + 1, _first_name)
_unknown = {d for names in (*DISCIPLINE_DOMAINS.values(), *CATEGORY_DOMAINS.values()) for d in names} - set(DOMAINS)
if _unknown:
    raise RuntimeError(f"domain mapping names domains the taxonomy lacks: {sorted(_unknown)}")

# ---------------------------------------------------------------------------
# Employers, titles, positions
# ---------------------------------------------------------------------------
CITIES = ("北京", "上海", "天津", "重庆", "南京", "杭州", "武汉", "成都", "西安", "广州", "长沙", "合肥",
          "济南", "青岛", "郑州", "沈阳", "大连", "哈尔滨", "长春", "兰州", "昆明", "南昌", "福州", "厦门",
          "苏州", "宁波", "石家庄", "太原", "贵阳", "南宁", "海口", "呼和浩特", "乌鲁木齐", "银川", "西宁",
          "温州", "无锡", "徐州", "扬州", "烟台", "洛阳", "襄阳", "桂林", "绵阳", "江海")
PROVINCES = ("江苏", "浙江", "山东", "河南", "湖北", "湖南", "四川", "广东", "福建", "安徽", "江西", "河北",
             "山西", "陕西", "甘肃", "辽宁", "吉林", "黑龙江", "云南", "贵州", "海南", "青海")

UNIVERSITY, INSTITUTE, HOSPITAL = "university", "institute", "hospital"
ENTERPRISE, GOVERNMENT = "enterprise", "government"

# Relative chance of each kind of employer, by category.
EMPLOYER_KIND_WEIGHTS: dict[str, dict[str, float]] = {
    "工学": {UNIVERSITY: 5, INSTITUTE: 2, ENTERPRISE: 2, GOVERNMENT: 1},
    "理学": {UNIVERSITY: 5, INSTITUTE: 3, GOVERNMENT: 0.5},
    "医学": {UNIVERSITY: 3, HOSPITAL: 5, INSTITUTE: 1, GOVERNMENT: 0.5},
    "农学": {UNIVERSITY: 4, INSTITUTE: 3, ENTERPRISE: 1, GOVERNMENT: 1},
    "法学": {UNIVERSITY: 5, INSTITUTE: 2, GOVERNMENT: 1.5},
    "管理学": {UNIVERSITY: 5, INSTITUTE: 2, ENTERPRISE: 1, GOVERNMENT: 1.5},
    "经济学": {UNIVERSITY: 5, INSTITUTE: 2, ENTERPRISE: 1.5, GOVERNMENT: 1},
    "教育学": {UNIVERSITY: 6, INSTITUTE: 1, GOVERNMENT: 1},
}
DEFAULT_EMPLOYER_KIND_WEIGHTS = {UNIVERSITY: 6, INSTITUTE: 2, GOVERNMENT: 0.5}

UNIVERSITY_PATTERNS: dict[str, tuple[str, ...]] = {
    "工学": ("{city}大学", "{city}理工大学", "{city}工业大学", "{city}科技大学", "{city}交通大学"),
    "理学": ("{city}大学", "{city}师范大学", "{city}理工大学"),
    "医学": ("{city}医科大学", "{city}大学", "{city}中医药大学"),
    "农学": ("{city}农业大学", "{city}农林大学", "{city}大学"),
    "法学": ("{city}大学", "{city}政法大学", "{city}师范大学"),
    "管理学": ("{city}大学", "{city}财经大学", "{city}工商大学"),
    "经济学": ("{city}财经大学", "{city}大学", "{city}工商大学"),
    "教育学": ("{city}师范大学", "{city}体育学院", "{city}大学"),
    "艺术学": ("{city}艺术学院", "{city}大学", "{city}师范大学"),
    "军事学": ("{city}大学", "{city}理工大学"),
}
DEFAULT_UNIVERSITY_PATTERNS = ("{city}大学", "{city}师范大学")
# The college of a university named after the discipline, except where that reads wrong.
SCHOOL_NAME_OVERRIDES = {"历史学": "历史学院", "中国语言文学": "文学院", "图书馆、情报与档案管理": "信息管理学院",
                         "军事学": "国防教育学院", "中医学/中药学": "中医学院", "哲学": "哲学学院"}
WITH_SCHOOL_SHARE = 0.5

INSTITUTE_PATTERNS: dict[str, tuple[str, ...]] = {
    "工学": ("{province}省科学院", "{city}市规划设计研究院", "{province}省建筑科学研究院", "中国科学院{city}分院"),
    "理学": ("{province}省科学院", "中国科学院{city}分院", "{province}省地质调查院"),
    "医学": ("{province}省医学科学院", "{province}省疾病预防控制中心"),
    "农学": ("{province}省农业科学院", "{province}省林业科学研究院", "{province}省水产研究所"),
}
DEFAULT_INSTITUTE_PATTERNS = ("{province}省社会科学院", "{city}市社会科学院", "{province}省政府发展研究中心")
HOSPITAL_PATTERNS = ("{city}市第一人民医院", "{city}市中医院", "{city}医科大学附属第一医院", "{city}市中心医院",
                     "{city}市疾病预防控制中心", "{city}市口腔医院")
ENTERPRISE_INDUSTRIES: dict[str, tuple[str, ...]] = {
    "工学": ("城建", "交通投资", "能源", "电力", "化工", "装备制造", "电子信息", "水务", "建工"),
    "农学": ("农业发展", "农垦", "种业"),
    "管理学": ("产业投资", "国有资本运营"),
    "经济学": ("金融控股", "产业投资", "国有资本运营"),
}
GOVERNMENT_BUREAUS: dict[str, tuple[str, ...]] = {
    "工学": ("住房和城乡建设局", "交通运输局", "工业和信息化局", "生态环境局"),
    "理学": ("科学技术局", "自然资源和规划局", "生态环境局"),
    "医学": ("卫生健康委员会", "医疗保障局"),
    "农学": ("农业农村局", "林业局"),
    "法学": ("司法局", "民政局"),
    "管理学": ("发展和改革委员会", "人力资源和社会保障局", "市场监督管理局"),
    "经济学": ("发展和改革委员会", "财政局", "地方金融监督管理局"),
    "教育学": ("教育局", "体育局"),
}
DEFAULT_GOVERNMENT_BUREAUS = ("文化广电旅游局", "发展和改革委员会")

SENIOR, ASSOCIATE, INTERMEDIATE = "senior", "associate", "intermediate"
TITLE_LEVEL_WEIGHTS = {SENIOR: 0.45, ASSOCIATE: 0.4, INTERMEDIATE: 0.15}
# employer kind -> level -> (title, positions that go with it)
TITLES: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    UNIVERSITY: {SENIOR: ("教授", ("院长", "副院长", "系主任", "博士生导师", "研究中心主任")),
                 ASSOCIATE: ("副教授", ("系副主任", "硕士生导师", "研究中心副主任")),
                 INTERMEDIATE: ("讲师", ("讲师", "研究中心研究人员"))},
    INSTITUTE: {SENIOR: ("研究员", ("院长", "副院长", "所长", "首席研究员", "研究室主任")),
                ASSOCIATE: ("副研究员", ("副所长", "研究室主任", "研究室副主任")),
                INTERMEDIATE: ("助理研究员", ("研究人员", "课题负责人"))},
    HOSPITAL: {SENIOR: ("主任医师", ("院长", "副院长", "科主任")),
               ASSOCIATE: ("副主任医师", ("科副主任", "医务部主任")),
               INTERMEDIATE: ("主治医师", ("主治医师",))},
    ENTERPRISE: {SENIOR: ("正高级工程师", ("总工程师", "副总工程师", "技术总监", "总经理")),
                 ASSOCIATE: ("高级工程师", ("主任工程师", "部门经理", "项目总工")),
                 INTERMEDIATE: ("工程师", ("项目负责人", "工程师"))},
    GOVERNMENT: {SENIOR: ("", ("一级巡视员", "二级巡视员", "一级调研员")),
                 ASSOCIATE: ("", ("处长", "副处长", "一级调研员")),
                 INTERMEDIATE: ("", ("二级调研员", "三级调研员", "科长"))},
}

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
            "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴")
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "司徒")
COMPOUND_SURNAME_SHARE = 0.01
MALE_GIVEN_FIRST = "建志国文晓永海卫振立明俊宏家思天学德新春长金光庆世忠成云少嘉子"
MALE_GIVEN_SECOND = "华平军强伟民明林峰东涛斌刚辉新清杰宇龙成波勇鹏超飞磊浩锋彬亮毅荣"
FEMALE_GIVEN_FIRST = "丽晓雪玉秀美春海慧静佳思雅欣文婉淑红丹秋艳亚向"
FEMALE_GIVEN_SECOND = "芳红娟琴萍燕敏霞婷丽颖琳洁娜丹蓉倩静玲虹梅莉艳晶"

BIO_OPENINGS = (
    "{post}，从事{field}研究与实践{years}年。",
    "现任{post}，长期从事{field}相关工作。",
    "{name}，{post}，{field}领域专家。",
    "{post}。从业{years}年来，始终深耕{field}领域。",
    "{post}，主要从事{field}方向的研究与咨询工作。",
)
BIO_FOCUS = (
    "主要研究方向为{k0}、{k1}和{k2}。",
    "长期关注{k0}与{k1}问题，在{k2}方面有系统研究。",
    "近年来聚焦{k0}、{k1}等议题，围绕{k2}开展了大量研究。",
    "擅长{k0}和{k1}，对{k2}有丰富的实践经验。",
    "研究领域涵盖{k0}、{k1}、{k2}等方面。",
)
BIO_WORK = (
    "代表性工作：{sentence}。",
    "近期研究中，{sentence}。",
    "{sentence}。",
)
BIO_CONTRIBUTIONS = (
    "主持国家级、省部级课题{projects}项，发表学术论文{papers}余篇。",
    "多次参加重大行政决策咨询论证，提出的{k0}相关建议被有关部门采纳。",
    "作为主要执笔人完成多份决策咨询报告，获市领导肯定性批示。",
    "主持完成{k1}相关项目{projects}项，具有丰富的一线实践经验。",
)
BIO_HONOURS = ("享受国务院政府特殊津贴。", "入选省高层次人才特殊支持计划。", "兼任省政府决策咨询委员会特约研究员。")
# Filler keywords when an expert's papers yield fewer than the bio templates use.
GENERIC_KEYWORDS = ("政策评估", "决策咨询", "技术创新")
BIO_TEMPLATE_KEYWORDS = 3

# Naive Bayes for the discipline of title-only records: add-alpha smoothing, and
# title and keyword bigrams count more than abstract bigrams.
CLASSIFIER_SMOOTHING = 0.5
CLASSIFIER_TITLE_WEIGHT = 3
CLASSIFIER_KEYWORD_WEIGHT = 2

_FEATURE_RUN = re.compile(r"[\u4e00-\u9fff]+|[A-Za-z]+")
_SENTENCE_END = re.compile(r"(?<![0-9A-Za-z])[。．.!?！？;；](?![0-9])")


@dataclass(frozen=True)
class Paper:
    paper_id: str
    title: str
    category: str
    discipline: str
    keywords: tuple[str, ...] = ()
    abstract: str = ""

    @property
    def first_sentence(self) -> str:
        return first_sentence(self.abstract)


@dataclass
class Corpus:
    """Papers for profiles by discipline, and the held-out decision items."""
    full_records: dict[str, list[Paper]]
    title_records: dict[str, list[Paper]]
    held_out: list[Paper]
    disciplines_by_category: dict[str, list[str]]
    discipline_weights: dict[str, int]
    category_of: dict[str, str] = field(default_factory=dict)


def first_sentence(abstract: str) -> str:
    match = _SENTENCE_END.search(abstract)
    sentence = (abstract[:match.start()] if match else abstract).strip()
    if len(sentence) > MAX_SENTENCE_CHARS:
        cut = max(sentence.rfind("，", 0, MAX_SENTENCE_CHARS), sentence.rfind(",", 0, MAX_SENTENCE_CHARS))
        sentence = sentence[:cut if cut > 0 else MAX_SENTENCE_CHARS]
    return sentence


def csl_dir(data_dir: str | Path | None) -> Path:
    """The zh_csl folder: given directly, or the eval folder holding it."""
    base = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    for candidate in (base, base / CSL_FOLDER):
        if (candidate / PAPERS_FILE).exists():
            return candidate
    raise FileNotFoundError(f"no {PAPERS_FILE} in {base} or {base / CSL_FOLDER} (use --data)")


def _clean_keywords(keywords) -> tuple[str, ...]:
    cleaned = (k.strip() for k in keywords or ())
    return tuple(dict.fromkeys(k for k in cleaned if 1 < len(k) <= MAX_KEYWORD_CHARS))


def load_corpus(data_dir: str | Path | None = None, seed: int = DEFAULT_SEED) -> Corpus:
    directory = csl_dir(data_dir)
    with open(directory / PAPERS_FILE, encoding="utf-8") as handle:
        full = [Paper(row["id"], row["title"].strip(), row["category"], row["discipline"],
                      _clean_keywords(row.get("keywords")), (row.get("abstract") or "").strip())
                for row in map(json.loads, filter(str.strip, handle))]
    with gzip.open(directory / TITLES_FILE, "rt", encoding="utf-8") as handle:
        titles = [(row["id"], row["title"].strip(), row["category"])
                  for row in map(json.loads, filter(str.strip, handle))]

    split_rng = random.Random(f"{seed}:held-out")
    held_out_ids = {p.paper_id for p in split_rng.sample(full, round(len(full) * HELD_OUT_SHARE))}
    held_out = [p for p in full if p.paper_id in held_out_ids]
    profile_papers = [p for p in full if p.paper_id not in held_out_ids]

    full_records: dict[str, list[Paper]] = defaultdict(list)
    disciplines_by_category: dict[str, set[str]] = defaultdict(set)
    for paper in profile_papers:
        full_records[paper.discipline].append(paper)
        disciplines_by_category[paper.category].add(paper.discipline)
    weights = {d: len(papers) for d, papers in full_records.items()}
    by_category = {c: sorted(ds) for c, ds in disciplines_by_category.items()}
    category_of = {d: c for c, ds in by_category.items() for d in ds}

    keyword_index = _keyword_index(profile_papers)
    classifier = DisciplineClassifier(profile_papers, weights)
    title_records: dict[str, list[Paper]] = defaultdict(list)
    for paper_id, title, category in titles:
        if category not in by_category or not title:
            continue
        discipline = classifier.classify(title, by_category[category])
        keywords = _title_keywords(title, discipline, keyword_index)
        title_records[discipline].append(Paper(paper_id, title, category, discipline, keywords))
    return Corpus(dict(full_records), dict(title_records), held_out, by_category, weights, category_of)


def _keyword_index(papers: list[Paper]) -> dict[str, Counter]:
    """keyword -> how often it labels a paper of each discipline."""
    index: dict[str, Counter] = defaultdict(Counter)
    for paper in papers:
        for keyword in paper.keywords:
            if MIN_PROBED_KEYWORD_CHARS <= len(keyword) <= MAX_PROBED_KEYWORD_CHARS:
                index[keyword][paper.discipline] += 1
    return index


def _features(text: str) -> list[str]:
    """CJK character bigrams and lower-cased Latin words."""
    features = []
    for run in _FEATURE_RUN.finditer(text):
        piece = run.group()
        if piece.isascii():
            features.append(piece.lower())
        else:
            features.extend(piece[i:i + 2] for i in range(len(piece) - 1))
    return features


class DisciplineClassifier:
    """Multinomial naive Bayes over character bigrams of the full records, to give
    each title-only record a discipline (CSL gives only its category). On the
    held-out full records it picks the right discipline from the title alone
    for about 58% of papers (keyword matching alone: 43%)."""

    def __init__(self, papers: list[Paper], discipline_weights: dict[str, int]):
        counts: dict[str, Counter] = defaultdict(Counter)
        for paper in papers:
            counts[paper.discipline].update(_features(paper.title) * CLASSIFIER_TITLE_WEIGHT)
            counts[paper.discipline].update(_features(" ".join(paper.keywords)) * CLASSIFIER_KEYWORD_WEIGHT)
            counts[paper.discipline].update(_features(paper.abstract))
        self.vocabulary = {feature for counter in counts.values() for feature in counter}
        smoothing_mass = CLASSIFIER_SMOOTHING * len(self.vocabulary)
        # log P(discipline) and the log probability of a feature never seen in it.
        self.prior = {d: math.log(w) for d, w in discipline_weights.items()}
        self.unseen = {d: math.log(CLASSIFIER_SMOOTHING / (sum(c.values()) + smoothing_mass))
                       for d, c in counts.items()}
        # What seeing a feature in a discipline adds over the unseen case (sparse).
        self.gain: dict[str, dict[str, float]] = defaultdict(dict)
        for discipline, counter in counts.items():
            for feature, count in counter.items():
                self.gain[feature][discipline] = math.log((count + CLASSIFIER_SMOOTHING) / CLASSIFIER_SMOOTHING)

    def classify(self, title: str, disciplines: list[str]) -> str:
        features = [f for f in _features(title) if f in self.vocabulary]
        scores = {d: self.prior[d] + len(features) * self.unseen[d] for d in disciplines}
        for feature in features:
            for discipline, gain in self.gain[feature].items():
                if discipline in scores:
                    scores[discipline] += gain
        return max(sorted(scores), key=scores.__getitem__)


def _title_keywords(title: str, discipline: str, keyword_index: dict[str, Counter]) -> tuple[str, ...]:
    """Known keywords inside a title: not generic (used in few disciplines), not
    part of a longer one found, those of its discipline and the longest first."""
    found = {title[start:end]
             for start in range(len(title))
             for end in range(start + MIN_PROBED_KEYWORD_CHARS, min(len(title), start + MAX_PROBED_KEYWORD_CHARS) + 1)
             if len(keyword_index.get(title[start:end], ())) in range(1, GENERIC_KEYWORD_DISCIPLINES)}
    specific = [k for k in found if not any(k != other and k in other for other in found)]
    ordered = sorted(specific, key=lambda k: (discipline not in keyword_index[k], -len(k), k))
    return tuple(ordered[:MAX_KEYWORDS_PER_TITLE])


# ---------------------------------------------------------------------------
# Profiles
# ---------------------------------------------------------------------------
class ProfileGenerator:
    def __init__(self, corpus: Corpus, seed: int = DEFAULT_SEED):
        self.corpus = corpus
        self.seed = seed
        self.disciplines = sorted(corpus.full_records)
        self.discipline_weights = [corpus.discipline_weights[d] for d in self.disciplines]
        self.employers = self._employer_lists()

    def _employer_lists(self) -> dict[tuple[str, str], list[str]]:
        """(category, kind) -> a fixed list of employer names, drawn once per seed."""
        rng = random.Random(f"{self.seed}:employers")
        lists: dict[tuple[str, str], list[str]] = {}
        for category in sorted(self.corpus.disciplines_by_category):
            for kind in EMPLOYER_KIND_WEIGHTS.get(category, DEFAULT_EMPLOYER_KIND_WEIGHTS):
                names = set()
                for _ in range(EMPLOYERS_PER_CATEGORY_KIND):
                    names.add(self._employer_name(rng, category, kind))
                lists[(category, kind)] = sorted(names)
        return lists

    @staticmethod
    def _employer_name(rng: random.Random, category: str, kind: str) -> str:
        city, province = rng.choice(CITIES), rng.choice(PROVINCES)
        if kind == UNIVERSITY:
            pattern = rng.choice(UNIVERSITY_PATTERNS.get(category, DEFAULT_UNIVERSITY_PATTERNS))
        elif kind == INSTITUTE:
            pattern = rng.choice(INSTITUTE_PATTERNS.get(category, DEFAULT_INSTITUTE_PATTERNS))
        elif kind == HOSPITAL:
            pattern = rng.choice(HOSPITAL_PATTERNS)
        elif kind == ENTERPRISE:
            industry = rng.choice(ENTERPRISE_INDUSTRIES.get(category, ENTERPRISE_INDUSTRIES["工学"]))
            pattern = "{city}" + industry + "集团有限公司"
        else:
            pattern = "{city}市" + rng.choice(GOVERNMENT_BUREAUS.get(category, DEFAULT_GOVERNMENT_BUREAUS))
        return pattern.format(city=city, province=province)

    def profile(self, expert_id: int) -> dict:
        """Expert `expert_id` (1-based); the same expert for any pool size."""
        rng = random.Random(f"{self.seed}:expert:{expert_id}")
        discipline = rng.choices(self.disciplines, weights=self.discipline_weights)[0]
        category = self.corpus.category_of[discipline]
        papers = self._papers(rng, discipline, category)
        keywords = self._keywords(rng, papers)
        kind = self._employer_kind(rng, category)
        employer = rng.choice(self.employers[(category, kind)])
        if kind == UNIVERSITY and rng.random() < WITH_SCHOOL_SHARE:
            employer += SCHOOL_NAME_OVERRIDES.get(discipline, discipline.split("/")[0] + "学院")
        level = rng.choices(list(TITLE_LEVEL_WEIGHTS), weights=list(TITLE_LEVEL_WEIGHTS.values()))[0]
        title, positions = TITLES[kind][level]
        position = rng.choice(positions)
        name = self._name(rng)
        domain_names = self._domains(rng, discipline, category)
        full = [p for p in papers if p.abstract]
        bio = self._bio(rng, name=name, post=employer + position + (f"、{title}" if title and title != position else ""),
                        field=domain_names[0], keywords=keywords, sentence=rng.choice(full).first_sentence)
        return {
            "expert_id": expert_id,
            "version": 1,
            "name": name,
            "keywords": keywords,
            # As search_bridge.profile_of: every domain, then the parent of each.
            "domains": domain_names + [DOMAINS[d][1] for d in domain_names if DOMAINS[d][1]],
            "domain_ids": [DOMAINS[d][0] for d in domain_names],
            "title": title,
            "position": position,
            "employer": employer,
            "bio": bio,
            "achievements": [p.title for p in papers],
        }

    def _papers(self, rng: random.Random, discipline: str, category: str) -> list[Paper]:
        full_pool = self.corpus.full_records[discipline]
        title_pool = self.corpus.title_records.get(discipline, [])
        count = rng.randint(*ACHIEVEMENTS_RANGE)
        full_count = min(rng.randint(*FULL_RECORDS_RANGE), count, len(full_pool))
        title_count = min(count - full_count, len(title_pool))
        papers = rng.sample(full_pool, full_count) + rng.sample(title_pool, title_count)
        shortfall = count - len(papers)
        if shortfall:
            spare = [p for p in full_pool if p not in papers]
            papers += rng.sample(spare, min(shortfall, len(spare)))
        neighbours = [d for d in self.corpus.disciplines_by_category[category] if d != discipline]
        if neighbours and len(papers) > 1 and rng.random() < CROSS_DISCIPLINE_SHARE:
            other = self.corpus.full_records[rng.choice(neighbours)]
            papers[-1] = rng.choice(other)
        rng.shuffle(papers)
        return papers

    @staticmethod
    def _keywords(rng: random.Random, papers: list[Paper]) -> list[str]:
        # Full records first: their keywords are the authors' own.
        ordered = sorted(papers, key=lambda p: not p.abstract)
        pool = list(dict.fromkeys(k for p in ordered for k in p.keywords))
        wanted = rng.randint(*KEYWORD_RANGE)
        if len(pool) <= wanted:
            return pool
        head = pool[:KEYWORD_RANGE[0]]
        return head + rng.sample(pool[KEYWORD_RANGE[0]:], wanted - len(head))

    @staticmethod
    def _employer_kind(rng: random.Random, category: str) -> str:
        weights = EMPLOYER_KIND_WEIGHTS.get(category, DEFAULT_EMPLOYER_KIND_WEIGHTS)
        return rng.choices(list(weights), weights=list(weights.values()))[0]

    @staticmethod
    def _name(rng: random.Random) -> str:
        surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < COMPOUND_SURNAME_SHARE else rng.choice(SURNAMES)
        first, second = ((FEMALE_GIVEN_FIRST, FEMALE_GIVEN_SECOND) if rng.random() < FEMALE_SHARE
                         else (MALE_GIVEN_FIRST, MALE_GIVEN_SECOND))
        if rng.random() < SINGLE_GIVEN_NAME_SHARE:
            return surname + rng.choice(second)
        return surname + rng.choice(first) + rng.choice(second)

    @staticmethod
    def _domains(rng: random.Random, discipline: str, category: str) -> list[str]:
        mapped = list(DISCIPLINE_DOMAINS.get(discipline) or CATEGORY_DOMAINS[category])
        if len(mapped) > 1 and rng.random() >= PRIMARY_IS_FIRST_MAPPED_SHARE:
            primary = rng.choice(mapped[1:])
        else:
            primary = mapped[0]
        others = [d for d in mapped if d != primary]
        secondary = []
        if others and rng.random() < SECONDARY_DOMAIN_SHARE:
            secondary = rng.sample(others, rng.randint(1, min(MAX_SECONDARY_DOMAINS, len(others))))
        return [primary, *secondary]

    @staticmethod
    def _bio(rng: random.Random, *, name: str, post: str, field: str, keywords: list[str], sentence: str) -> str:
        chosen = rng.sample(keywords, min(BIO_TEMPLATE_KEYWORDS, len(keywords)))
        chosen += [k for k in GENERIC_KEYWORDS if k not in chosen][:BIO_TEMPLATE_KEYWORDS - len(chosen)]
        values = {"name": name, "post": post, "field": field, "years": rng.randint(*YEARS_RANGE),
                  "k0": chosen[0], "k1": chosen[1], "k2": chosen[2],
                  "projects": rng.randint(*PROJECTS_RANGE), "papers": rng.randint(*PAPERS_RANGE),
                  "sentence": sentence}
        sentences = [rng.choice(BIO_OPENINGS), rng.choice(BIO_FOCUS)]
        if sentence:
            sentences.append(rng.choice(BIO_WORK))
        if rng.random() < BIO_CONTRIBUTION_SHARE:
            sentences.append(rng.choice(BIO_CONTRIBUTIONS))
        if rng.random() < BIO_HONOUR_SHARE:
            sentences.append(rng.choice(BIO_HONOURS))
        return "".join(s.format(**values) for s in sentences)


def generate_profiles(size: int, seed: int = DEFAULT_SEED, data_dir: str | Path | None = None,
                      corpus: Corpus | None = None) -> Iterator[dict]:
    generator = ProfileGenerator(corpus or load_corpus(data_dir, seed), seed)
    for expert_id in range(1, size + 1):
        yield generator.profile(expert_id)


def item_domains(discipline: str, category: str) -> list[str]:
    """The domains a decision item names: the first ITEM_DOMAINS mapped from its discipline."""
    return list((DISCIPLINE_DOMAINS.get(discipline) or CATEGORY_DOMAINS[category])[:ITEM_DOMAINS])


def generate_queries(count: int, seed: int = DEFAULT_SEED, data_dir: str | Path | None = None,
                     corpus: Corpus | None = None) -> list[dict]:
    """Decision items from held-out papers: title + first abstract sentence, with the
    paper's keywords and the domains mapped from its discipline."""
    corpus = corpus or load_corpus(data_dir, seed)
    if count > len(corpus.held_out):
        raise ValueError(f"only {len(corpus.held_out)} held-out papers for {count} queries")
    rng = random.Random(f"{seed}:queries")
    items = []
    for paper in rng.sample(corpus.held_out, count):
        sentence = paper.first_sentence
        items.append({
            "query_id": paper.paper_id,
            "text": paper.title + (f"。{sentence}。" if sentence else ""),
            "keywords": list(paper.keywords),
            "domains": item_domains(paper.discipline, paper.category),
            "category": paper.category,
            "discipline": paper.discipline,
        })
    return items


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, required=True, help="number of expert profiles")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--data", help=f"the eval folder or its {CSL_FOLDER} folder (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--out", help="profiles as JSON Lines (default: standard output)")
    parser.add_argument("--queries", type=int, default=0, help="decision items to write to --queries-out")
    parser.add_argument("--queries-out", help="decision items as JSON Lines")
    args = parser.parse_args(argv)
    corpus = load_corpus(args.data, args.seed)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    try:
        for profile in generate_profiles(args.size, args.seed, corpus=corpus):
            out.write(json.dumps(profile, ensure_ascii=False) + "\n")
    finally:
        if args.out:
            out.close()
    if args.queries:
        if not args.queries_out:
            parser.error("--queries needs --queries-out")
        with open(args.queries_out, "w", encoding="utf-8") as handle:
            for item in generate_queries(args.queries, args.seed, corpus=corpus):
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
