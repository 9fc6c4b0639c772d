"""Demonstration data for `flask demo`: a fictional city's organisations, an
expert pool spread over every domain, one login per role, and decision items
at each stage of the consultation workflow.

Everything goes through the real operations (validation, audit entries): the
reference data, experts and logins with the CLI as actor, the consultations
as the demo logins (and the experts' own accounts) who do them in real use,
so the demo exercises the same rules as real use. The data is deterministic
for a given seed. Functions flush; the CLI commits.
"""
from __future__ import annotations

import heapq
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from flask import current_app

from experts_service.accounts.models import User
from experts_service.accounts.operations import create_user
from experts_service.consultation.engagements import record_adoption, record_attendance, rate, save_opinion
from experts_service.consultation.models import Invitation, Opinion
from experts_service.consultation.operations import accept, confirm_panel, decline
from experts_service.core import audit
from experts_service.core.auth import Role
from experts_service.core.clock import display_zone, now, today
from experts_service.core.crypto import keyed_hash
from experts_service.core.errors import ServiceError, ValidationFailed
from experts_service.core.idcard import check_digit
from experts_service.experts.models import Expert, ExpertStatus, PoliticalAffiliation, Sex, TitleLevel
from experts_service.experts.operations import create_expert
from experts_service.experts.schemas import ExpertInputSchema
from experts_service.extensions import db
from experts_service.panels.models import Engagement, PanelRequest, Recommendation
from experts_service.panels.operations import create_item, create_panel_request, replace_member, run_recommendation
from experts_service.policy import RATING_PARTS, current_policy
from experts_service.reference.models import Domain, Organisation, OrganisationType, Tier
from experts_service.reference.operations import create_organisation, find_organisation_by_name
from experts_service.reference.schemas import OrganisationInputSchema

DEMO_PASSWORD = "Demo-2026-pass"
DEFAULT_EXPERT_COUNT = 320
DEFAULT_SEED = 20261123

CITY = "江海市"

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------
# Logins
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: Role
    display_name: str
    # Department users: the name of their department (an organisation below).
    organisation: str | None = None


DEPARTMENT_FGW = f"{CITY}发展和改革委员会"
DEPARTMENT_ZJJ = f"{CITY}住房和城乡建设局"
# The expert login belongs to the first featured expert (see FEATURED_EXPERTS).
EXPERT_LOGIN_NAME = "张伟"

# `demo_admin`, not `admin`: `flask init` may already own that name.
DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("demo_admin", Role.ADMIN, "演示管理员"),
    DemoLogin("rencai", Role.TALENT_OFFICE, "周敏"),
    DemoLogin("fgw", Role.DEPARTMENT, "陈立新", DEPARTMENT_FGW),
    DemoLogin("zjj", Role.DEPARTMENT, "刘洋", DEPARTMENT_ZJJ),
    DemoLogin("zhuanjia", Role.EXPERT, EXPERT_LOGIN_NAME),
    DemoLogin("shenji", Role.AUDITOR, "孙志刚"),
)
# Its presence means the demo data was loaded already.
SENTINEL_USERNAME = "rencai"

# ---------------------------------------------------------------------------
# Organisations
# ---------------------------------------------------------------------------

# First-level domain names of reference/seed.py, used to tag organisations
# with the fields their staff work in.
DEV, SOC, URB, FIN, LAW = "产业发展", "社会管理", "城乡建设", "财税金融", "依法行政"
ENV, EDU, CUL, MED, AGR = "环境资源", "人才教育", "文化发展", "医疗卫生", "农业农村"

GOV = OrganisationType.GOVERNMENT
PUBLIC = OrganisationType.PUBLIC_INSTITUTION
UNIVERSITY = OrganisationType.UNIVERSITY
RESEARCH = OrganisationType.RESEARCH_INSTITUTE
ENTERPRISE = OrganisationType.ENTERPRISE
SOCIAL = OrganisationType.SOCIAL_ORGANISATION

# Relative chance of an organisation being picked as an employer: colleges
# and institutes supply most experts in a real pool.
WEIGHT_COLLEGE = 3.0
WEIGHT_INSTITUTE = 2.0
WEIGHT_DEFAULT = 1.0

ACADEMIC_FAMILIES = ("academic", "academic", "research")


@dataclass(frozen=True)
class OrgSpec:
    name: str
    type: OrganisationType
    # First-level domains its staff work in; empty: employs no demo expert.
    domains: tuple[str, ...] = ()
    # Title families (TITLE_FAMILIES keys) of its staff, one drawn per expert.
    families: tuple[str, ...] = ()
    system: str | None = None
    aliases: tuple[str, ...] = ()
    children: tuple[OrgSpec, ...] = ()
    weight: float = WEIGHT_DEFAULT


def _gov(name, system, domains, families, aliases=(), children=()) -> OrgSpec:
    return OrgSpec(name, GOV, domains, families, system, aliases, children)


def _org(name, type_, domains=(), families=(), aliases=(), children=(), weight=WEIGHT_DEFAULT) -> OrgSpec:
    return OrgSpec(name, type_, domains, families, None, aliases, children, weight)


def _college(name, domains) -> OrgSpec:
    return _org(name, UNIVERSITY, domains, ACADEMIC_FAMILIES, weight=WEIGHT_COLLEGE)


ORGANISATIONS: tuple[OrgSpec, ...] = (
    # Government departments (with 系统) and their 下属事业单位.
    _gov(DEPARTMENT_FGW, "发展改革", (DEV, FIN, SOC), ("economic",), (f"{CITY}发改委",), (
        _org(f"{CITY}价格监测中心", PUBLIC, (FIN, DEV), ("economic",)),
        _org(f"{CITY}重点建设项目服务中心", PUBLIC, (URB, DEV), ("engineering",)),
    )),
    _gov(f"{CITY}财政局", "财政", (FIN,), ("accounting", "economic"), (), (
        _org(f"{CITY}财政投资评审中心", PUBLIC, (FIN,), ("accounting", "engineering")),
    )),
    _gov(DEPARTMENT_ZJJ, "住房城乡建设", (URB,), ("engineering",), (f"{CITY}住建局",), (
        _org(f"{CITY}住房保障服务中心", PUBLIC, (URB,), ("economic",)),
        _org(f"{CITY}建设工程质量安全监督站", PUBLIC, (URB,), ("engineering",)),
    )),
    _gov(f"{CITY}卫生健康委员会", "卫生健康", (MED,), ("public_health",), (f"{CITY}卫健委",), (
        _org(f"{CITY}疾病预防控制中心", PUBLIC, (MED,), ("public_health",), (f"{CITY}疾控中心",)),
    )),
    _gov(f"{CITY}生态环境局", "生态环境", (ENV,), ("engineering",), (), (
        _org(f"{CITY}生态环境监测中心", PUBLIC, (ENV,), ("engineering",)),
    )),
    _gov(f"{CITY}司法局", "司法行政", (LAW,), ("legal",), (), (
        _org(f"{CITY}公证处", PUBLIC, (LAW,), ("notary",)),
        _org(f"{CITY}法律援助中心", PUBLIC, (LAW,), ("legal",)),
    )),
    _gov(f"{CITY}教育局", "教育", (EDU,), ("teaching",), (), (
        _org(f"{CITY}教育科学研究院", PUBLIC, (EDU,), ("teaching", "research"), (f"{CITY}教科院",)),
    )),
    _gov(f"{CITY}农业农村局", "农业农村", (AGR,), ("agronomy", "economic"), (), (
        _org(f"{CITY}农业技术推广中心", PUBLIC, (AGR,), ("agronomy",)),
    )),
    _gov(f"{CITY}人力资源和社会保障局", "人力资源社会保障", (EDU, SOC), ("economic",), (f"{CITY}人社局",), (
        _org(f"{CITY}就业管理服务中心", PUBLIC, (EDU,), ("economic",)),
        _org(f"{CITY}社会保险事业管理中心", PUBLIC, (SOC,), ("economic", "accounting")),
    )),
    _gov(f"{CITY}市场监督管理局", "市场监管", (DEV,), ("engineering", "economic"), (f"{CITY}市场监管局",), (
        _org(f"{CITY}质量技术监督检测研究院", PUBLIC, (DEV,), ("engineering",)),
    )),
    _gov(f"{CITY}文化广电旅游局", "文化旅游", (CUL,), ("culture", "economic"), (f"{CITY}文广旅局",), (
        _org(f"{CITY}博物馆", PUBLIC, (CUL,), ("culture",)),
        _org(f"{CITY}图书馆", PUBLIC, (CUL,), ("culture",)),
    )),
    _gov(f"{CITY}交通运输局", "交通运输", (URB,), ("engineering",), (), (
        _org(f"{CITY}综合交通发展研究中心", PUBLIC, (URB,), ("engineering", "research")),
    )),
    _gov(f"{CITY}自然资源和规划局", "自然资源", (URB, ENV), ("planning",), (f"{CITY}资源规划局",), (
        _org(f"{CITY}国土空间规划研究中心", PUBLIC, (URB, ENV), ("planning",)),
    )),
    _gov(f"{CITY}民政局", "民政", (SOC,), ("social_work", "economic")),
    _gov(f"{CITY}应急管理局", "应急管理", (SOC,), ("engineering",)),
    _gov(f"{CITY}科学技术局", "科技", (DEV,), ("engineering", "research"), (f"{CITY}科技局",)),
    _gov(f"{CITY}经济和信息化局", "经济信息化", (DEV,), ("engineering", "economic"), (f"{CITY}经信局",)),
    _gov(f"{CITY}医疗保障局", "医疗保障", (MED,), ("economic", "accounting"), (f"{CITY}医保局",)),
    _gov(f"{CITY}地方金融管理局", "金融", (FIN,), ("economic",), (f"{CITY}金融办",)),
    _gov(f"{CITY}水利局", "水利", (ENV, AGR), ("engineering",)),
    # Universities: the university itself employs nobody here, its colleges do.
    _org("江海大学", UNIVERSITY, aliases=("江大", "江海工业大学"), children=(
        _college("江海大学经济学院", (DEV, FIN)),
        _college("江海大学公共管理学院", (SOC, FIN, EDU)),
        _college("江海大学法学院", (LAW,)),
        _college("江海大学建筑与城市规划学院", (URB,)),
        _college("江海大学环境科学与工程学院", (ENV,)),
        _college("江海大学医学院", (MED,)),
        _college("江海大学计算机科学与技术学院", (DEV,)),
        _org("江海大学附属第一医院", PUBLIC, (MED,), ("medical",), ("江大一院",), weight=WEIGHT_INSTITUTE),
    )),
    _org("江海财经大学", UNIVERSITY, aliases=("江海财大", "江海财经学院"), children=(
        _college("江海财经大学财政税务学院", (FIN,)),
        _college("江海财经大学金融学院", (FIN,)),
        _college("江海财经大学会计学院", (FIN,)),
        _college("江海财经大学工商管理学院", (DEV,)),
    )),
    _org("江海师范大学", UNIVERSITY, aliases=("江海师大",), children=(
        _college("江海师范大学教育科学学院", (EDU,)),
        _college("江海师范大学历史文化学院", (CUL,)),
        _college("江海师范大学社会发展学院", (SOC,)),
    )),
    _org("江海农林大学", UNIVERSITY, aliases=("江海农大",), children=(
        _college("江海农林大学经济管理学院", (AGR, DEV)),
        _college("江海农林大学农学院", (AGR,)),
    )),
    # Research institutes.
    _org(f"{CITY}社会科学院", RESEARCH, (SOC, CUL, DEV, LAW, EDU), ("research",), ("江海社科院",), weight=WEIGHT_INSTITUTE),
    _org(f"{CITY}发展研究中心", RESEARCH, (DEV, FIN, SOC), ("research",), weight=WEIGHT_INSTITUTE),
    _org(f"{CITY}城市规划设计研究院", RESEARCH, (URB,), ("planning",), ("江海规划院",), weight=WEIGHT_INSTITUTE),
    _org(f"{CITY}环境科学研究院", RESEARCH, (ENV,), ("research", "engineering"), ("江海环科院",),
         weight=WEIGHT_INSTITUTE),
    _org(f"{CITY}农业科学院", RESEARCH, (AGR,), ("research", "agronomy"), ("江海农科院",), weight=WEIGHT_INSTITUTE),
    _org(f"中共{CITY}委党校", PUBLIC, (SOC, LAW, CUL), ("academic",), (f"{CITY}行政学院",), weight=WEIGHT_INSTITUTE),
    # Hospitals.
    _org(f"{CITY}第一人民医院", PUBLIC, (MED,), ("medical",), (f"{CITY}一院",), weight=WEIGHT_INSTITUTE),
    _org(f"{CITY}中医院", PUBLIC, (MED,), ("medical",)),
    _org(f"{CITY}妇幼保健院", PUBLIC, (MED,), ("medical",)),
    # Enterprises, accounting and law firms.
    _org("江海城市建设投资集团有限公司", ENTERPRISE, (URB, FIN), ("economic", "engineering"), ("江海城投",)),
    _org("江海交通投资集团有限公司", ENTERPRISE, (URB,), ("engineering", "economic"), ("江海交投",)),
    _org("江海水务集团有限公司", ENTERPRISE, (URB, ENV), ("engineering",)),
    _org("江海农村商业银行股份有限公司", ENTERPRISE, (FIN, AGR), ("economic",), ("江海农商银行",)),
    _org("江海大数据集团有限公司", ENTERPRISE, (DEV,), ("engineering",)),
    _org("江海建筑设计研究院有限公司", ENTERPRISE, (URB,), ("engineering", "planning"), ("江海建筑院",)),
    _org("江海华信工程咨询有限公司", ENTERPRISE, (URB, DEV, FIN), ("engineering", "economic")),
    _org("江海正信会计师事务所（特殊普通合伙）", ENTERPRISE, (FIN,), ("accounting",), ("正信会计师事务所",)),
    _org("江海中衡资产评估有限公司", ENTERPRISE, (FIN,), ("economic",)),
    _org("江海明理律师事务所", ENTERPRISE, (LAW,), ("legal",)),
    _org("江海正平律师事务所", ENTERPRISE, (LAW, FIN), ("legal",)),
    _org("江海天衡律师事务所", ENTERPRISE, (LAW, SOC), ("legal",)),
    _org("江海文化旅游发展集团有限公司", ENTERPRISE, (CUL,), ("economic",), ("江海文旅集团",)),
    _org("江海医药集团股份有限公司", ENTERPRISE, (MED, DEV), ("engineering",), ("江海医药",)),
    # Social organisations.
    _org(f"{CITY}经济学会", SOCIAL, (DEV, FIN), ("research", "economic")),
    _org(f"{CITY}法学会", SOCIAL, (LAW,), ("research",)),
    _org(f"{CITY}城市规划学会", SOCIAL, (URB,), ("planning",)),
    _org(f"{CITY}社会工作协会", SOCIAL, (SOC,), ("social_work",)),
    _org(f"{CITY}工商业联合会", SOCIAL, (DEV,), ("economic",), (f"{CITY}总商会",)),
    _org(f"{CITY}慈善总会", SOCIAL, (SOC,), ("social_work",)),
)

DISTRICTS = ("江城区", "海港区", "新湖区", "临江区")
ROADS = ("人民路", "解放路", "中山路", "滨江大道", "文教路", "学院路", "科技大道", "府前街", "建设路",
         "环城北路", "湖滨路", "复兴路")
MAX_HOUSE_NUMBER = 399

# ---------------------------------------------------------------------------
# Professional titles and positions
# ---------------------------------------------------------------------------

SENIOR, ASSOCIATE = TitleLevel.SENIOR, TitleLevel.ASSOCIATE
INTERMEDIATE, OTHER = TitleLevel.INTERMEDIATE, TitleLevel.OTHER

# family -> level -> (title name, positions that go with it)
TITLE_FAMILIES: dict[str, dict[TitleLevel, tuple[str, tuple[str, ...]]]] = {
    "academic": {
        SENIOR: ("教授", ("院长", "副院长", "系主任", "教授", "博士生导师", "研究中心主任")),
        ASSOCIATE: ("副教授", ("副教授", "系副主任", "硕士生导师", "研究中心副主任")),
        INTERMEDIATE: ("讲师", ("讲师", "研究中心研究人员")),
    },
    "research": {
        SENIOR: ("研究员", ("院长", "副院长", "所长", "首席研究员", "研究室主任")),
        ASSOCIATE: ("副研究员", ("副所长", "研究室主任", "研究室副主任")),
        INTERMEDIATE: ("助理研究员", ("研究人员", "课题负责人")),
    },
    "engineering": {
        SENIOR: ("正高级工程师", ("总工程师", "副总工程师", "技术总监", "总经理")),
        ASSOCIATE: ("高级工程师", ("所长", "主任工程师", "部门经理", "项目总工")),
        INTERMEDIATE: ("工程师", ("项目负责人", "工程师")),
    },
    "planning": {
        SENIOR: ("正高级工程师", ("总规划师", "副院长", "所长")),
        ASSOCIATE: ("高级工程师", ("所长", "主任规划师", "项目负责人")),
        INTERMEDIATE: ("工程师", ("规划师", "项目负责人")),
    },
    "medical": {
        SENIOR: ("主任医师", ("院长", "副院长", "科主任", "主任医师")),
        ASSOCIATE: ("副主任医师", ("科副主任", "副主任医师", "医务部主任")),
        INTERMEDIATE: ("主治医师", ("主治医师",)),
    },
    "public_health": {
        SENIOR: ("主任医师", ("主任", "副主任", "首席专家", "所长")),
        ASSOCIATE: ("副主任医师", ("所长", "副所长", "科长")),
        INTERMEDIATE: ("主管医师", ("主管医师",)),
    },
    "economic": {
        SENIOR: ("正高级经济师", ("董事长", "总经理", "总经济师", "副总经理")),
        ASSOCIATE: ("高级经济师", ("副总经理", "部门总经理", "投资总监")),
        INTERMEDIATE: ("经济师", ("部门经理", "业务主管")),
    },
    "accounting": {
        SENIOR: ("正高级会计师", ("主任会计师", "首席合伙人", "合伙人")),
        ASSOCIATE: ("高级会计师", ("合伙人", "高级经理")),
        INTERMEDIATE: ("会计师", ("项目经理", "审计经理")),
    },
    "legal": {
        SENIOR: ("一级律师", ("主任", "高级合伙人", "管理合伙人")),
        ASSOCIATE: ("二级律师", ("合伙人", "高级合伙人")),
        INTERMEDIATE: ("三级律师", ("专职律师", "合伙人")),
    },
    "notary": {
        SENIOR: ("一级公证员", ("主任", "副主任")),
        ASSOCIATE: ("二级公证员", ("副主任", "公证员")),
        INTERMEDIATE: ("三级公证员", ("公证员",)),
    },
    "culture": {
        SENIOR: ("研究馆员", ("馆长", "副馆长", "研究部主任")),
        ASSOCIATE: ("副研究馆员", ("部主任", "副馆长")),
        INTERMEDIATE: ("馆员", ("馆员", "策展人")),
    },
    "agronomy": {
        SENIOR: ("农业技术推广研究员", ("主任", "首席专家", "站长")),
        ASSOCIATE: ("高级农艺师", ("副主任", "站长", "科长")),
        INTERMEDIATE: ("农艺师", ("农艺师", "项目负责人")),
    },
    "teaching": {
        SENIOR: ("正高级教师", ("校长", "特级教师", "教研室主任")),
        ASSOCIATE: ("高级教师", ("副校长", "教研员", "教研组长")),
        INTERMEDIATE: ("一级教师", ("教研员", "年级组长")),
    },
    "social_work": {
        SENIOR: ("正高级社会工作师", ("会长", "秘书长", "理事长")),
        ASSOCIATE: ("高级社会工作师", ("副秘书长", "项目总监", "理事长")),
        INTERMEDIATE: ("社会工作师", ("项目主管", "督导")),
    },
}
# Families whose bios and achievements read as scholarship rather than practice.
SCHOLARLY_FAMILIES = frozenset({"academic", "research"})

# Civil servants hold posts, not titles; the title (if any) comes from the family.
GOVERNMENT_POSITIONS: dict[TitleLevel, tuple[str, ...]] = {
    SENIOR: ("一级巡视员", "二级巡视员", "一级调研员"),
    ASSOCIATE: ("处长", "一级调研员", "副处长"),
    INTERMEDIATE: ("二级调研员", "三级调研员", "科长"),
    OTHER: ("处长", "副处长", "一级调研员", "二级调研员"),
}
# Share of government experts without a professional title (qualify by years).
GOVERNMENT_UNTITLED_SHARE = 0.35
# Share of experts employed by a government department (its 系统 matters to panels).
GOVERNMENT_SHARE = 0.15

# Title level weights (senior, associate, intermediate) by age band: nobody is
# a full professor at 33, few are still intermediate at 55.
TITLE_LEVELS = (SENIOR, ASSOCIATE, INTERMEDIATE)
TITLE_WEIGHTS_BY_AGE: tuple[tuple[int, tuple[float, float, float]], ...] = (
    (37, (0.05, 0.6, 0.35)),
    (45, (0.35, 0.5, 0.15)),
    (200, (0.6, 0.33, 0.07)),
)

# ---------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------

MIN_AGE = 32
MAX_AGE = 68
MODE_AGE = 50
ACADEMICIAN_MIN_AGE = 58
MIN_ACADEMICIANS, MAX_ACADEMICIANS = 2, 4
ACADEMIES = ("中国工程院院士", "中国工程院院士", "中国科学院院士")
ACADEMICIAN_POSITIONS = ("名誉院长", "首席科学家", "学术委员会主任")
CAREER_START_AGES = (22, 30)
FEMALE_SHARE = 0.3
# Share of people with a one-character given name (张伟, 李娜).
SINGLE_GIVEN_NAME_SHARE = 0.3

# (surname, weight ≈ share of the population in per cent). Rare compound and
# polyphonic surnames (欧阳, 单 shan, 解 xie) are over-weighted so the pinyin
# search has something to find.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 7.1), ("李", 7.0), ("张", 6.8), ("刘", 5.4), ("陈", 4.6), ("杨", 3.1), ("黄", 2.5), ("赵", 2.3),
    ("吴", 2.0), ("周", 1.9), ("徐", 1.5), ("孙", 1.5), ("马", 1.3), ("朱", 1.3), ("胡", 1.2), ("郭", 1.2),
    ("何", 1.1), ("高", 1.1), ("林", 1.1), ("罗", 0.9), ("郑", 0.9), ("梁", 0.9), ("谢", 0.8), ("宋", 0.7),
    ("唐", 0.7), ("许", 0.7), ("韩", 0.7), ("冯", 0.7), ("邓", 0.7), ("曹", 0.6), ("彭", 0.6), ("曾", 0.6),
    ("肖", 0.6), ("田", 0.5), ("董", 0.5), ("袁", 0.5), ("潘", 0.5), ("于", 0.5), ("蒋", 0.5), ("蔡", 0.5),
    ("余", 0.5), ("杜", 0.5), ("叶", 0.4), ("程", 0.4), ("苏", 0.4), ("魏", 0.4), ("吕", 0.4), ("丁", 0.4),
    ("任", 0.4), ("沈", 0.4), ("姚", 0.3), ("卢", 0.3), ("姜", 0.3), ("崔", 0.3), ("钟", 0.3), ("谭", 0.3),
    ("陆", 0.3), ("汪", 0.3), ("范", 0.3), ("金", 0.3), ("石", 0.3), ("廖", 0.3), ("贾", 0.3), ("夏", 0.3),
    ("韦", 0.2), ("方", 0.2), ("白", 0.2), ("邹", 0.2), ("孟", 0.2), ("熊", 0.2), ("秦", 0.2), ("邱", 0.2),
    ("江", 0.2), ("尹", 0.2), ("薛", 0.2), ("段", 0.2), ("雷", 0.2), ("侯", 0.2), ("龙", 0.2), ("史", 0.2),
    ("陶", 0.2), ("黎", 0.2), ("贺", 0.2), ("顾", 0.2), ("毛", 0.2), ("郝", 0.2), ("龚", 0.2), ("邵", 0.2),
    ("万", 0.2), ("钱", 0.2), ("严", 0.2), ("武", 0.2), ("戴", 0.2), ("覃", 0.1), ("莫", 0.1), ("孔", 0.1),
    ("汤", 0.1), ("单", 0.2), ("解", 0.15), ("仇", 0.08), ("查", 0.08), ("翟", 0.1), ("区", 0.05),
    ("欧阳", 0.15), ("司马", 0.05), ("诸葛", 0.04), ("上官", 0.05), ("司徒", 0.05), ("皇甫", 0.04),
)
MALE_GIVEN_FIRST = "建志国文晓永海卫振立明俊宏家思天学德新春长金光庆世忠成云少嘉子"
MALE_GIVEN_SECOND = "华平军强伟民明林峰东涛斌刚辉新清杰宇龙成波勇鹏超飞磊浩锋彬亮毅荣"
MALE_GIVEN_SINGLE = "伟强磊军勇杰涛明超刚平辉鹏华飞斌宇浩凯健俊帆峰亮毅"
FEMALE_GIVEN_FIRST = "丽晓雪玉秀美春海慧静佳思雅欣文婉淑红丹秋艳亚向"
FEMALE_GIVEN_SECOND = "芳红娟琴萍燕敏霞婷丽颖琳洁娜丹蓉倩静玲虹梅莉艳晶"
FEMALE_GIVEN_SINGLE = "芳娜敏静丽艳娟霞燕玲婷雪慧颖琳洁红晶倩萍蕾"

# Created first, so the search demo (张伟, pinyin of compound and polyphonic
# surnames) always has its examples. The first one owns the expert login.
FEATURED_EXPERTS: tuple[tuple[str, Sex], ...] = (
    (EXPERT_LOGIN_NAME, Sex.MALE), ("欧阳慧", Sex.FEMALE), ("司马振", Sex.MALE), ("诸葛文", Sex.MALE),
    ("单建华", Sex.MALE), ("曾晓燕", Sex.FEMALE), ("解志明", Sex.MALE), ("查丽", Sex.FEMALE),
)

# Real county-level codes (GB/T 2260) of places experts come from, weighted
# toward the (eastern) region the fictional city lies in.
REGION_CODES: tuple[tuple[str, float], ...] = (
    ("330102", 3), ("330106", 3), ("330203", 2), ("330302", 2), ("330402", 2), ("330602", 2),
    ("320102", 2), ("320105", 2), ("320506", 2), ("320211", 1), ("310104", 2), ("310115", 2),
    ("340104", 1), ("350102", 1), ("360102", 1), ("370102", 1), ("370202", 1), ("410105", 1),
    ("420106", 1), ("430104", 1), ("440106", 1), ("440304", 1), ("450103", 0.5), ("500103", 1),
    ("510107", 1), ("520102", 0.5), ("610113", 1), ("620102", 0.5), ("110105", 1), ("110108", 1.5),
    ("120101", 0.5), ("130102", 0.5), ("140105", 0.5), ("210102", 0.5), ("220104", 0.5), ("230103", 0.5),
)
# The 17th digit is odd for men, even for women; 000 is never issued.
ID_SEQUENCE_PAIR_RANGE = (1, 499)
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                   "153", "155", "156", "157", "158", "159", "166", "177", "180", "181", "182", "183",
                   "185", "186", "187", "188", "189", "191", "198", "199")
MOBILE_SUFFIX_DIGITS = 8

POLITICAL_WEIGHTS: tuple[tuple[PoliticalAffiliation, float], ...] = (
    (PoliticalAffiliation.CPC, 62), (PoliticalAffiliation.CDL, 5), (PoliticalAffiliation.JIUSAN, 4),
    (PoliticalAffiliation.CAPD, 3.5), (PoliticalAffiliation.CPWDP, 3), (PoliticalAffiliation.CNDCA, 3),
    (PoliticalAffiliation.RCCK, 2), (PoliticalAffiliation.CZGP, 1.5), (PoliticalAffiliation.TDSL, 0.3),
    (PoliticalAffiliation.NON_PARTY, 8), (PoliticalAffiliation.MASSES, 8),
)
NPC_DEPUTY_SHARE = 0.04
# 政协 seats go disproportionately to non-CPC members (that is their point).
CPPCC_SHARE_CPC = 0.03
CPPCC_SHARE_OTHERS = 0.2

# ---------------------------------------------------------------------------
# Domains, keywords, tiers, terms
# ---------------------------------------------------------------------------

# Random weights per second-level domain lie in 1 ± this, beyond one expert each.
DOMAIN_SPREAD_JITTER = 0.4
SECONDARY_DOMAIN_COUNT_WEIGHTS = (0.35, 0.45, 0.2)  # 0, 1, 2 secondary domains
SIBLING_DOMAIN_SHARE = 0.6
KEYWORD_RANGE = (3, 8)
MAX_BORROWED_KEYWORDS = 2

# Where academicians plausibly sit (CAS/CAE elect in science and engineering).
TECHNICAL_DOMAINS = frozenset({URB, ENV, MED, AGR, "科技创新", "数字经济", "医药产业"})

# Per second-level domain (reference/seed.py names).
KEYWORDS: dict[str, tuple[str, ...]] = {
    "产业规划": ("产业链供应链", "先进制造业集群", "产业转型升级", "开发区整合提升", "招商引资", "产业基金",
             "专精特新", "产业空间布局", "链长制", "新质生产力", "服务业扩大开放", "总部经济"),
    "科技创新": ("科技成果转化", "创新平台建设", "研发费用加计扣除", "科技金融", "高新技术企业培育", "新型研发机构",
             "产学研协同", "知识产权保护", "科技人才评价", "关键核心技术攻关"),
    "数字经济": ("数据要素市场", "数字政府", "平台经济监管", "工业互联网", "智慧城市", "公共数据授权运营",
             "算力基础设施", "人工智能应用", "数字化转型", "数据安全"),
    "市场监管": ("营商环境", "公平竞争审查", "信用监管", "食品安全", "反垄断", "药品监管", "质量强市", "标准化",
             "知识产权执法", "包容审慎监管", "放管服改革"),
    "城市治理": ("基层治理", "网格化管理", "城市精细化管理", "一网统管", "社区治理", "物业管理", "接诉即办",
             "社会组织培育", "矛盾纠纷多元化解", "城市运行安全"),
    "社会救助": ("最低生活保障", "特困人员供养", "临时救助", "低收入人口动态监测", "慈善事业", "困境儿童保障",
             "救助帮扶", "服务类社会救助", "残疾人福利"),
    "社会保障": ("养老保险", "长期护理保险", "居家社区养老", "养老服务体系", "失业保险", "工伤保险",
             "灵活就业人员参保", "人口老龄化", "基本养老服务清单", "社会保险基金监管"),
    "应急管理": ("安全生产", "防灾减灾", "应急预案", "风险评估", "危险化学品管理", "防汛防台", "应急物资储备",
             "韧性城市", "消防救援", "突发事件应对"),
    "城乡规划": ("国土空间规划", "城市更新", "控制性详细规划", "历史文化街区保护", "城市设计", "15分钟生活圈",
             "城乡融合发展", "TOD开发", "村庄规划", "城市体检"),
    "公用事业": ("供水保障", "燃气安全", "价格成本监审", "污水处理", "垃圾分类", "特许经营", "地下管网改造",
             "海绵城市", "集中供热", "公用事业价格改革"),
    "交通运输": ("综合交通枢纽", "公交优先", "轨道交通", "停车治理", "交通拥堵治理", "城乡客运一体化",
             "物流降本增效", "智慧交通", "慢行交通", "交通影响评价"),
    "住房保障": ("保障性租赁住房", "公租房", "共有产权住房", "老旧小区改造", "房地产市场平稳健康发展", "住房公积金",
             "城中村改造", "租购并举", "预售资金监管", "住房租赁市场"),
    "减税降费": ("增值税留抵退税", "结构性减税", "涉企收费清理", "小微企业税费优惠", "税费政策评估", "非税收入管理",
             "社保费率调整", "税收营商环境", "减税降费效果评估"),
    "公共资源配置": ("公共资源交易", "政府采购", "国有资产管理", "土地出让", "招标投标监管", "国有企业改革",
               "矿业权出让", "国有资本运营", "政府和社会资本合作"),
    "财政预算": ("预算绩效管理", "零基预算", "专项债", "政府债务风险", "财政可持续", "转移支付", "预算公开",
             "政府投资项目评审", "中期财政规划", "财政资金直达"),
    "金融监管": ("地方金融监管", "普惠金融", "防范化解金融风险", "私募基金", "融资担保", "绿色金融", "小额贷款公司",
             "非法集资防范", "地方法人银行", "供应链金融"),
    "行政立法": ("地方性法规", "政府规章", "立法后评估", "立法听证", "规章清理", "规范性文件管理", "设区的市立法权",
             "立法协商", "备案审查"),
    "合法性审查": ("重大行政决策程序", "合法性审查", "行政规范性文件审核", "政府法律顾问", "行政合同审查",
              "社会稳定风险评估", "公众参与", "专家论证", "集体讨论决定", "决策后评估"),
    "行政复议与诉讼": ("行政复议体制改革", "行政诉讼", "行政应诉", "行政执法监督", "行政赔偿", "行政裁决",
                "综合行政执法", "行政执法三项制度", "府院联动"),
    "资源开发": ("矿产资源管理", "土地节约集约利用", "水资源配置", "自然资源资产产权", "海域使用", "耕地占补平衡",
             "低效用地再开发", "生态产品价值实现", "地热能开发"),
    "生态保护": ("生态保护红线", "生物多样性", "河长制", "湿地保护", "自然保护地", "生态补偿", "山水林田湖草系统治理",
             "生态修复", "林长制"),
    "污染防治": ("大气污染防治", "水污染防治", "土壤污染修复", "固体废物管理", "环境影响评价", "排污许可",
             "挥发性有机物治理", "新污染物治理", "无废城市", "环境监测"),
    "碳达峰碳中和": ("碳排放权交易", "碳达峰行动方案", "能耗双控", "可再生能源", "建筑节能", "碳排放核算",
               "绿色低碳转型", "分布式光伏", "氢能产业", "碳普惠"),
    "就业创业": ("稳就业", "高校毕业生就业", "职业技能培训", "创业担保贷款", "灵活就业", "零工市场", "就业优先政策",
             "农民工就业", "公益性岗位", "劳动关系协调"),
    "人才政策": ("人才引进", "人才评价", "高层次人才", "青年人才", "人才公寓", "职称制度改革", "博士后工作站",
             "人才发展体制机制改革", "柔性引才", "人才生态"),
    "基础教育": ("义务教育优质均衡", "学前教育普惠", "双减", "集团化办学", "教师队伍建设", "课后服务", "学位供给",
             "中考改革", "校外培训治理", "县域普通高中发展"),
    "高等教育": ("一流学科建设", "产教融合", "应用型本科", "高校科研评价", "校地合作", "研究生教育", "职业教育",
             "校企合作", "现代产业学院"),
    "文化产业": ("文旅融合", "文化创意产业", "夜间经济", "数字文化", "影视产业", "全域旅游", "文化消费",
             "非遗活化利用", "会展经济", "文化产业园区"),
    "文物保护": ("文物保护利用", "考古前置", "历史建筑保护", "非物质文化遗产", "大遗址保护", "革命文物", "工业遗产",
             "博物馆建设", "文物安全", "历史文化名城保护"),
    "公共文化服务": ("公共文化服务体系", "城市书房", "全民阅读", "文化馆总分馆制", "群众文化活动", "公共文化设施运营",
               "基层综合文化服务中心", "社会力量参与", "文化志愿服务"),
    "公共卫生": ("疾病预防控制", "突发公共卫生事件", "健康城市", "慢病管理", "传染病监测预警", "爱国卫生运动",
             "精神卫生", "职业病防治", "基本公共卫生服务", "医防融合"),
    "医疗保障": ("医保支付方式改革", "DRG/DIP付费", "医保基金监管", "药品集中带量采购", "门诊共济保障", "城乡居民医保",
             "医疗服务价格改革", "惠民保", "异地就医结算", "紧密型医共体"),
    "医药产业": ("生物医药", "创新药研发", "医疗器械", "中医药传承创新", "药品上市许可持有人制度", "医药产业园区",
             "临床试验", "医药流通", "高端医疗装备"),
    "乡村振兴": ("乡村振兴", "和美乡村", "农村人居环境整治", "乡村治理", "防止规模性返贫", "强村富民", "乡村人才振兴",
             "乡村产业", "农文旅融合", "驻村帮扶"),
    "农业产业": ("粮食安全", "高标准农田", "现代农业产业园", "农产品质量安全", "种业振兴", "设施农业", "农业社会化服务",
             "农产品冷链物流", "家庭农场", "智慧农业"),
    "农村改革": ("农村集体产权制度改革", "宅基地制度改革", "承包地三权分置", "集体经营性建设用地入市", "新型农村集体经济",
             "农村金融", "农村产权交易", "供销合作社改革", "农业保险"),
}
# For a domain an administrator added after the seed.
GENERIC_KEYWORDS = ("决策咨询", "政策评估", "公共政策", "风险评估", "社会稳定风险评估", "绩效评价")

# Tier shares by code; the rest are general (库员专家).
CHIEF_SHARE = 0.05
CORE_SHARE = 0.25
TIER_CODES = ("chief", "core", "general")
# Seniority score used to rank experts for tiers: title points plus age.
TITLE_POINTS = {SENIOR: 3.0, ASSOCIATE: 2.0, OTHER: 1.5, INTERMEDIATE: 1.0}
AGE_POINTS_DIVISOR = 20
TIER_SCORE_NOISE = 1.5

# Terms started over the last four years, so they end at different dates.
TERM_SPREAD_DAYS = 4 * 365

SUSPENDED_COUNT = 6
EXITED_COUNT = 4

# ---------------------------------------------------------------------------
# Bios and achievements
# ---------------------------------------------------------------------------

BIO_OPENINGS = (
    "{post}，从事{field}领域研究与实践{years}年。",
    "现任{post}，长期从事{field}相关工作。",
    "{name}，{post}，{field}领域专家。",
    "{post}。从业{years}年来，始终深耕{field}领域。",
    "{post}，主要从事{field}方向的研究与咨询工作。",
)
BIO_FOCUS = (
    "主要研究方向为{k0}、{k1}和{k2}。",
    "长期关注{k0}与{k1}问题，在{k2}方面有系统研究。",
    "近年来聚焦{k0}、{k1}等议题，围绕{k2}开展了大量实证研究。",
    "擅长{k0}和{k1}，对{k2}有丰富的实践经验。",
    "研究领域涵盖{k0}、{k1}、{k2}等方面。",
    "在{k0}、{k1}领域具有较深造诣，熟悉{k2}相关政策。",
)
BIO_ACADEMICIAN_OPENING = "{academy}，{post}，长期从事{field}领域研究。"
BIO_CONTRIBUTIONS_COMMON = (
    "先后参与{city}“十四五”{field}相关规划及政策文件的起草论证工作。",
    "多次参加{city}重大行政决策咨询论证，提出的{k0}相关建议被有关部门采纳。",
    "曾为{department}等部门提供决策咨询服务。",
    "作为主要执笔人完成多份决策咨询报告，获市领导肯定性批示。",
)
BIO_CONTRIBUTIONS_SCHOLARLY = (
    "主持国家级、省部级课题{projects}项，发表学术论文{papers}余篇。",
    "出版专著{books}部，相关成果被多地政府部门采用。",
)
BIO_CONTRIBUTIONS_PRACTICE = (
    "从业以来主持完成{k1}相关项目{projects}项，具有丰富的一线实践经验。",
    "牵头完成{city}多个{k0}重点项目，熟悉政策落地中的难点与风险。",
)
BIO_HONOURS = (
    "享受国务院政府特殊津贴。",
    "入选省高层次人才特殊支持计划。",
    "兼任{society}副会长。",
    "兼任省政府决策咨询委员会特约研究员。",
)
BIO_LAW_HONOUR = "担任{city}人民政府法律顾问。"
BIO_NPC = "现为{city}人大代表。"
BIO_CPPCC = "现为{city}政协委员。"
BIO_CONTRIBUTION_SHARE = 0.75
BIO_HONOUR_SHARE = 0.3
PROJECTS_RANGE = (3, 15)
PAPERS_RANGE = (20, 80)
BOOKS_RANGE = (1, 5)

JOURNALS: dict[str, tuple[str, ...]] = {
    DEV: ("管理世界", "中国工业经济", "科学学研究", "中国软科学"),
    SOC: ("中国行政管理", "社会学研究", "公共管理学报", "中国社会保障"),
    URB: ("城市规划", "城市规划学刊", "建筑学报", "城市发展研究"),
    FIN: ("财政研究", "税务研究", "金融研究", "经济研究"),
    LAW: ("法学研究", "中国法学", "行政法学研究", "法商研究"),
    ENV: ("中国人口·资源与环境", "环境科学", "生态学报", "资源科学"),
    EDU: ("教育研究", "中国高教研究", "中国人力资源开发", "人口与经济"),
    CUL: ("文艺研究", "文物", "东南文化", "旅游学刊"),
    MED: ("中国卫生经济", "中华预防医学杂志", "中国医院管理", "中国卫生政策研究"),
    AGR: ("农业经济问题", "中国农村经济", "中国农村观察", "农业技术经济"),
}
GENERIC_JOURNALS = ("中国行政管理", "中国软科学", "公共管理学报")
GENERAL_PUBLISHERS = ("社会科学文献出版社", "人民出版社", "中国社会科学出版社", "江海大学出版社")
PUBLISHERS: dict[str, tuple[str, ...]] = {
    DEV: ("经济科学出版社", "经济管理出版社"),
    URB: ("中国建筑工业出版社",),
    FIN: ("经济科学出版社", "中国财政经济出版社", "中国金融出版社"),
    LAW: ("法律出版社", "中国法制出版社"),
    ENV: ("科学出版社", "中国环境出版集团"),
    EDU: ("教育科学出版社", "高等教育出版社"),
    CUL: ("文物出版社", "中国旅游出版社"),
    MED: ("人民卫生出版社", "科学出版社"),
    AGR: ("中国农业出版社", "科学出版社"),
}
ISSUES_PER_YEAR = 12
ACHIEVEMENT_YEARS_BACK = 12
ACHIEVEMENT_COUNT_RANGE = (1, 5)
# publication, project, award
ACHIEVEMENT_KIND_WEIGHTS_SCHOLARLY = (0.55, 0.3, 0.15)
ACHIEVEMENT_KIND_WEIGHTS_PRACTICE = (0.2, 0.55, 0.25)
ACHIEVEMENT_KINDS = ("publication", "project", "award")

PUBLICATION_TEMPLATES_PAPERS = (
    "《{kw}的实践逻辑与优化路径》（论文，《{journal}》{year}年第{issue}期）",
    "《{kw}与{kw2}协同推进的机制分析》（论文，《{journal}》{year}年第{issue}期）",
    "《{city}{kw}调查报告》（研究报告，{year}年）",
)
# Officials publish reports and articles, not monographs.
PUBLICATION_TEMPLATES_BOOKS = (
    "《{kw}研究》（专著，{publisher}，{year}年）",
    "《{field}政策评估：理论、方法与案例》（合著，{publisher}，{year}年）",
)
# Research grants: national ones go to scholars, provincial ones to scholars
# and practitioners; officials list the studies and documents they led.
NATIONAL_PROJECT_SOCIAL = "国家社会科学基金项目“{kw}的机制与路径研究”（主持，{year}年）"
NATIONAL_PROJECT_TECHNICAL = "国家自然科学基金面上项目“{kw}的影响机理与调控策略”（主持，{year}年）"
PROVINCIAL_PROJECT_SOCIAL = "省哲学社会科学规划课题“{kw}与{kw2}协同推进研究”（{role}，{year}年）"
PROVINCIAL_PROJECT_TECHNICAL = "省重点研发计划项目“{kw}关键技术研究与示范”（{role}，{year}年）"
PROJECT_ROLES_SCHOLARLY = ("主持",)
PROJECT_ROLES_PRACTICE = ("主要参与人", "子课题负责人")
GOVERNMENT_PROJECT_TEMPLATES = (
    "{city}重大决策咨询课题“{kw}对策研究”（主持，{year}年）",
    "牵头起草《{city}{kw}实施方案》（{year}年）",
    "参与起草《{city}关于加强{kw}工作的若干措施》（{year}年）",
)
PROJECT_TEMPLATES_COMMON = (
    "{city}重大决策咨询课题“{kw}对策研究”（主持，{year}年）",
    "《{city}{kw}实施方案》编制（技术负责人，{year}年）",
    "{city}{kw}政策第三方评估（项目负责人，{year}年）",
)
AWARD_TEMPLATES_SOCIAL = (
    "省哲学社会科学优秀成果奖{grade}（{year}年）",
    "{city}社会科学优秀成果奖{grade}（{year}年）",
)
AWARD_TEMPLATES_TECHNICAL = (
    "省科学技术进步奖{grade}（{year}年）",
    "{city}科学技术进步奖{grade}（{year}年）",
)
AWARD_TEMPLATES_COMMON = ("{city}优秀决策咨询研究成果奖{grade}（{year}年）",)
AWARD_TEMPLATE_ENGINEERING = "全国优秀工程咨询成果奖{grade}（{year}年）"
ENGINEERING_FAMILIES = frozenset({"engineering", "planning"})
AWARD_GRADES: tuple[tuple[str, float], ...] = (("一等奖", 0.2), ("二等奖", 0.35), ("三等奖", 0.45))


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


def demo_logins() -> list[tuple[str, str]]:
    """(role label, username) of every demo login, for the CLI to print."""
    logins = []
    for login in DEMO_LOGINS:
        label = login.role.label
        if login.organisation:
            label += f"（{_short_name(login.organisation)}）"
        elif login.role is Role.EXPERT:
            label += f"（{login.display_name}）"
        logins.append((label, login.username))
    return logins


def load_demo(expert_count: int = DEFAULT_EXPERT_COUNT, seed: int = DEFAULT_SEED) -> dict | None:
    """Load the demo data once; None (and no change) if it is there already.

    The result counts what was made: experts, organisations, and the consultations' decision items,
    panel requests, recommendations, invitations, opinions, adoption feedback, ratings and the
    experts' accounts made for them (scenarios_stopped: items a small pool could not take through).
    """
    if expert_count < 1:
        raise ValueError("expert_count must be at least 1: the expert login needs a record")
    if _user_exists(SENTINEL_USERNAME):
        return None
    rng = random.Random(seed)
    organisations, created = _create_organisations(rng)
    employers = _employers(organisations)
    specs = _expert_specs(rng, expert_count, employers, _second_level_domains(), today())
    experts = _create_experts(specs, _tiers_by_code())
    login_expert = next((e for e, spec in experts if spec.featured and e.name == EXPERT_LOGIN_NAME), experts[0][0])
    _vary_statuses(rng, [e for e, spec in experts if not spec.featured and not spec.is_academician])
    _create_users(organisations, login_expert)
    return {"experts": len(experts), "organisations": created, **_run_consultations(organisations, login_expert)}


# ---------------------------------------------------------------------------
# Organisations
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Employer:
    organisation: Organisation
    spec: OrgSpec

    @property
    def is_government(self) -> bool:
        return self.spec.type is GOV


def _short_name(name: str) -> str:
    """江海市财政局 -> 市财政局, as officials write it."""
    return name.replace(CITY, "市", 1) if name.startswith(CITY) else name


def _create_organisations(rng: random.Random) -> tuple[dict[str, tuple[Organisation, OrgSpec]], int]:
    """Create the tree depth first; an organisation already present is reused."""
    schema = OrganisationInputSchema()
    found: dict[str, tuple[Organisation, OrgSpec]] = {}
    created = 0

    def add(spec: OrgSpec, parent: Organisation | None) -> None:
        nonlocal created
        organisation = find_organisation_by_name(spec.name)
        if organisation is None:
            address = f"{CITY}{rng.choice(DISTRICTS)}{rng.choice(ROADS)}{rng.randint(1, MAX_HOUSE_NUMBER)}号"
            data = schema.load({
                "name": spec.name,
                "type": spec.type.value,
                "system": spec.system,
                "parent_id": parent.id if parent is not None else None,
                # An alias someone already gave another organisation stays theirs.
                "aliases": [a for a in spec.aliases if find_organisation_by_name(a) is None],
                "address": address,
            })
            organisation = create_organisation(None, data)
            created += 1
        found[spec.name] = (organisation, spec)
        for child in spec.children:
            add(child, organisation)

    for spec in ORGANISATIONS:
        add(spec, None)
    return found, created


def _employers(organisations: dict[str, tuple[Organisation, OrgSpec]]) -> list[Employer]:
    return [Employer(org, spec) for org, spec in organisations.values() if spec.domains and spec.families]


def _pick_employer(rng: random.Random, employers: list[Employer], first_level: str, *,
                   government: bool, academician: bool) -> Employer:
    def fits(employer: Employer) -> bool:
        if employer.is_government != government:
            return False
        if academician and employer.spec.type not in (UNIVERSITY, RESEARCH) and "medical" not in employer.spec.families:
            return False
        return True

    candidates = [e for e in employers if fits(e) and first_level in e.spec.domains]
    if not candidates:
        # A domain no demo organisation covers (added by an administrator).
        candidates = [e for e in employers if fits(e)] or employers
    return rng.choices(candidates, weights=[e.spec.weight for e in candidates])[0]


# ---------------------------------------------------------------------------
# Experts
# ---------------------------------------------------------------------------


@dataclass
class ExpertSpec:
    data: dict[str, Any]
    term_start: date
    featured: bool
    is_academician: bool
    is_government: bool
    tier_score: float
    tier_code: str = "general"


@dataclass
class _Person:
    """What is drawn for one expert before it becomes the create_expert payload."""

    name: str
    sex: Sex
    age: int
    domain: Domain
    academician: bool
    featured: bool


def _second_level_domains() -> list[Domain]:
    return list(db.session.execute(
        sa.select(Domain).where(Domain.parent_id.is_not(None), Domain.is_active).order_by(Domain.sort_order, Domain.id)
    ).scalars())


def _tiers_by_code() -> dict[str, Tier]:
    """By seeded code; falls back to rank order if an administrator renamed codes."""
    tiers = list(db.session.execute(sa.select(Tier).order_by(Tier.rank)).scalars())
    by_code = {tier.code: tier for tier in tiers}
    fallback = {"chief": tiers[0], "core": tiers[min(1, len(tiers) - 1)], "general": tiers[-1]}
    return {code: by_code.get(code, fallback[code]) for code in TIER_CODES}


def _domain_slots(rng: random.Random, domains: list[Domain], count: int) -> list[Domain]:
    """Every domain at least once (if count allows), the rest spread unevenly."""
    if count <= len(domains):
        return rng.sample(domains, count)
    weights = [rng.uniform(1 - DOMAIN_SPREAD_JITTER, 1 + DOMAIN_SPREAD_JITTER) for _ in domains]
    slots = list(domains) + rng.choices(domains, weights=weights, k=count - len(domains))
    rng.shuffle(slots)
    return slots


def _is_technical(domain: Domain) -> bool:
    return domain.name in TECHNICAL_DOMAINS or (domain.parent is not None and domain.parent.name in TECHNICAL_DOMAINS)


def _expert_specs(rng: random.Random, count: int, employers: list[Employer], domains: list[Domain],
                  on: date) -> list[ExpertSpec]:
    if not domains:
        raise RuntimeError("没有可用的二级领域，请先运行 flask init")
    policy = current_policy()
    slots = _domain_slots(rng, domains, count)
    featured = FEATURED_EXPERTS[:count]
    eligible = [i for i in range(len(featured), count) if _is_technical(slots[i])]
    academicians = set(rng.sample(eligible, min(len(eligible), rng.randint(MIN_ACADEMICIANS, MAX_ACADEMICIANS))))
    schema = ExpertInputSchema()
    taken_ids = set(db.session.execute(sa.select(Expert.id_number_hash)).scalars())
    specs = []
    for index, domain in enumerate(slots):
        academician = index in academicians
        if index < len(featured):
            name, sex = featured[index]
        else:
            sex = Sex.FEMALE if rng.random() < FEMALE_SHARE else Sex.MALE
            name = _random_name(rng, sex)
        if academician:
            age = rng.randint(ACADEMICIAN_MIN_AGE, min(MAX_AGE, policy.max_age_academician))
        else:
            age = round(rng.triangular(MIN_AGE, min(MAX_AGE, policy.max_age_at_application), MODE_AGE))
        person = _Person(name, sex, age, domain, academician, index < len(featured))
        specs.append(_expert_spec(rng, person, employers, domains, on, policy, taken_ids, schema))
    _assign_tiers(specs)
    return specs


def _random_name(rng: random.Random, sex: Sex) -> str:
    surname = rng.choices([s for s, _ in SURNAMES], weights=[w for _, w in SURNAMES])[0]
    male = sex is Sex.MALE
    # Compound surnames take a one-character given name: names stay 2–3 characters.
    if len(surname) > 1 or rng.random() < SINGLE_GIVEN_NAME_SHARE:
        return surname + rng.choice(MALE_GIVEN_SINGLE if male else FEMALE_GIVEN_SINGLE)
    first = rng.choice(MALE_GIVEN_FIRST if male else FEMALE_GIVEN_FIRST)
    second_pool = [c for c in (MALE_GIVEN_SECOND if male else FEMALE_GIVEN_SECOND) if c != first]
    return surname + first + rng.choice(second_pool)


def _birth_date(rng: random.Random, age: int, on: date) -> date:
    """A birthday that makes the person exactly `age` on `on`."""
    latest = _years_before(on, age)
    earliest = _years_before(on, age + 1) + timedelta(days=1)
    return earliest + timedelta(days=rng.randint(0, (latest - earliest).days))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _id_number(rng: random.Random, birth: date, sex: Sex, taken: set[str]) -> str:
    region_codes = [code for code, _ in REGION_CODES]
    region_weights = [weight for _, weight in REGION_CODES]
    while True:
        region = rng.choices(region_codes, weights=region_weights)[0]
        sequence = rng.randint(*ID_SEQUENCE_PAIR_RANGE) * 2 + (1 if sex is Sex.MALE else 0)
        first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
        number = first17 + check_digit(first17)
        digest = keyed_hash(number)
        if digest not in taken:
            taken.add(digest)
            return number


def _mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + "".join(str(rng.randrange(10)) for _ in range(MOBILE_SUFFIX_DIGITS))


def _title_level(rng: random.Random, age: int, government: bool, academician: bool) -> TitleLevel:
    if academician:
        return SENIOR
    if government and rng.random() < GOVERNMENT_UNTITLED_SHARE:
        return OTHER
    weights = next(w for limit, w in TITLE_WEIGHTS_BY_AGE if age <= limit)
    return rng.choices(TITLE_LEVELS, weights=weights)[0]


def _years_in_field(rng: random.Random, age: int, level: TitleLevel, min_years_untitled: int) -> int:
    youngest_start, oldest_start = CAREER_START_AGES
    years = age - rng.randint(youngest_start, oldest_start)
    if level in (INTERMEDIATE, OTHER):
        # Below 副高 only long experience qualifies (intake rule).
        years = max(years, min(min_years_untitled, age - youngest_start))
    return max(years, 0)


def _political(rng: random.Random) -> tuple[PoliticalAffiliation, bool, bool]:
    affiliation = rng.choices([p for p, _ in POLITICAL_WEIGHTS], weights=[w for _, w in POLITICAL_WEIGHTS])[0]
    npc = rng.random() < NPC_DEPUTY_SHARE
    cppcc_share = CPPCC_SHARE_CPC if affiliation.is_cpc else CPPCC_SHARE_OTHERS
    cppcc = not npc and rng.random() < cppcc_share
    return affiliation, npc, cppcc


def _secondary_domains(rng: random.Random, primary: Domain, domains: list[Domain]) -> list[Domain]:
    count = rng.choices(range(len(SECONDARY_DOMAIN_COUNT_WEIGHTS)), weights=SECONDARY_DOMAIN_COUNT_WEIGHTS)[0]
    chosen: list[Domain] = []
    for _ in range(count):
        siblings = [d for d in domains if d.parent_id == primary.parent_id and d is not primary and d not in chosen]
        others = [d for d in domains if d is not primary and d not in chosen]
        pool = siblings if siblings and rng.random() < SIBLING_DOMAIN_SHARE else others
        if pool:
            chosen.append(rng.choice(pool))
    return chosen


def _keywords(rng: random.Random, primary: Domain, secondary: list[Domain]) -> tuple[list[str], list[str]]:
    """All keywords, and those of the primary domain (what bio and achievements stress)."""
    wanted = rng.randint(*KEYWORD_RANGE)
    borrowed = min(len(secondary), rng.randint(0, MAX_BORROWED_KEYWORDS), wanted - KEYWORD_RANGE[0])
    own = KEYWORDS.get(primary.name, GENERIC_KEYWORDS)
    words = rng.sample(own, min(len(own), wanted - borrowed))
    primary_words = list(words)
    for domain in secondary[:borrowed]:
        pool = [w for w in KEYWORDS.get(domain.name, GENERIC_KEYWORDS) if w not in words]
        if pool:
            words.append(rng.choice(pool))
    for word in GENERIC_KEYWORDS:  # the bio templates need three
        if len(words) >= KEYWORD_RANGE[0]:
            break
        if word not in words:
            words.append(word)
            primary_words.append(word)
    return words, primary_words


def _expert_spec(rng: random.Random, person: _Person, employers: list[Employer], domains: list[Domain],
                 on: date, policy, taken_ids: set[str], schema: ExpertInputSchema) -> ExpertSpec:
    first_level = person.domain.parent.name
    government = not person.featured and not person.academician and rng.random() < GOVERNMENT_SHARE
    employer = _pick_employer(rng, employers, first_level, government=government, academician=person.academician)
    family = rng.choice(employer.spec.families)
    level = _title_level(rng, person.age, employer.is_government, person.academician)
    title_name, positions = TITLE_FAMILIES[family].get(level, (None, ()))
    if employer.is_government:
        position = rng.choice(GOVERNMENT_POSITIONS[level])
    else:
        position = rng.choice(ACADEMICIAN_POSITIONS if person.academician else positions)
    years = _years_in_field(rng, person.age, level, policy.min_years_in_field_without_title)
    affiliation, npc, cppcc = _political(rng)
    secondary = _secondary_domains(rng, person.domain, domains)
    keywords, primary_keywords = _keywords(rng, person.domain, secondary)
    birth = _birth_date(rng, person.age, on)
    context = {
        "name": person.name, "employer": employer, "position": position, "title": title_name, "years": years,
        "domain": person.domain, "keywords": primary_keywords, "family": family, "academician": person.academician,
        "npc": npc, "cppcc": cppcc, "level": level,
    }
    raw = {
        "name": person.name,
        "id_number": _id_number(rng, birth, person.sex, taken_ids),
        "mobile": _mobile(rng),
        "employer_id": employer.organisation.id,
        "position": position,
        "title_level": level.value,
        "title_name": title_name,
        "years_in_field": years,
        "political_affiliation": affiliation.value,
        "is_npc_deputy": npc,
        "is_cppcc_member": cppcc,
        "is_academician": person.academician,
        "primary_domain_id": person.domain.id,
        "secondary_domain_ids": [d.id for d in secondary],
        "keywords": keywords,
        "bio": _bio(rng, context, employers),
        "achievements": _achievements(rng, context, on),
    }
    score = TITLE_POINTS[level] + person.age / AGE_POINTS_DIVISOR + rng.random() * TIER_SCORE_NOISE
    term_start = on - timedelta(days=rng.randint(0, TERM_SPREAD_DAYS))
    # tier_id is assigned later, over the whole pool (see _assign_tiers).
    return ExpertSpec(schema.load(raw, partial=("tier_id",)), term_start, person.featured, person.academician, employer.is_government,
                      score)


def _assign_tiers(specs: list[ExpertSpec]) -> None:
    """Academicians and the most senior non-officials are chief; the next are core."""
    chief_target = max(sum(s.is_academician for s in specs), round(len(specs) * CHIEF_SHARE))
    core_target = round(len(specs) * CORE_SHARE)
    ranked = sorted(specs, key=lambda s: (not s.is_academician, -s.tier_score))
    chiefs = 0
    cores = 0
    for spec in ranked:
        level = TitleLevel(spec.data["title_level"])
        # Chief advisers are scholars and practitioners, not serving officials.
        if chiefs < chief_target and (spec.is_academician or (level is SENIOR and not spec.is_government)):
            spec.tier_code = "chief"
            chiefs += 1
        elif cores < core_target and level in (SENIOR, ASSOCIATE, OTHER):
            spec.tier_code = "core"
            cores += 1
        else:
            spec.tier_code = "general"


def _create_experts(specs: list[ExpertSpec], tiers: dict[str, Tier]) -> list[tuple[Expert, ExpertSpec]]:
    # Oldest terms first, so certificate numbers rise with the appointment date.
    created = []
    for spec in sorted(specs, key=lambda s: s.term_start):
        data = dict(spec.data, tier_id=tiers[spec.tier_code].id)
        created.append((create_expert(None, data, term_start=spec.term_start), spec))
    return created


# ---------------------------------------------------------------------------
# Bios and achievements
# ---------------------------------------------------------------------------


def _bio(rng: random.Random, ctx: dict[str, Any], employers: list[Employer]) -> str:
    employer: Employer = ctx["employer"]
    domain: Domain = ctx["domain"]
    keywords = rng.sample(ctx["keywords"], KEYWORD_RANGE[0])
    title = ctx["title"]
    post = employer.organisation.name + ctx["position"]
    if title and title not in ctx["position"]:
        post += f"、{title}"
    first_level = domain.parent.name
    departments = [e.organisation.name for e in employers if e.is_government and first_level in e.spec.domains]
    societies = [e.organisation.name for e in employers
                 if e.spec.type is SOCIAL and first_level in e.spec.domains and e is not employer]
    values = {
        "name": ctx["name"], "post": post, "field": domain.name, "years": ctx["years"], "city": CITY,
        "k0": keywords[0], "k1": keywords[1], "k2": keywords[2],
        "department": "、".join(_short_name(d) for d in rng.sample(departments, min(2, len(departments)))),
        "projects": rng.randint(*PROJECTS_RANGE), "papers": rng.randint(*PAPERS_RANGE),
        "books": rng.randint(*BOOKS_RANGE), "society": rng.choice(societies) if societies else "",
        "academy": rng.choice(ACADEMIES),
    }
    opening = BIO_ACADEMICIAN_OPENING if ctx["academician"] else rng.choice(BIO_OPENINGS)
    sentences = [opening, rng.choice(BIO_FOCUS)]
    scholarly = ctx["family"] in SCHOLARLY_FAMILIES
    if rng.random() < BIO_CONTRIBUTION_SHARE:
        specific = BIO_CONTRIBUTIONS_SCHOLARLY if scholarly else BIO_CONTRIBUTIONS_PRACTICE
        options = [c for c in BIO_CONTRIBUTIONS_COMMON + specific if departments or "{department}" not in c]
        sentences.append(rng.choice(options))
    honour = _honour(rng, ctx, first_level, bool(societies))
    if honour:
        sentences.append(honour)
    return "".join(sentences).format(**values)


def _honour(rng: random.Random, ctx: dict[str, Any], first_level: str, has_society: bool) -> str | None:
    """One closing sentence that agrees with the expert's flags, or none."""
    if ctx["npc"]:
        return BIO_NPC
    if ctx["cppcc"]:
        return BIO_CPPCC
    if ctx["employer"].is_government or rng.random() >= BIO_HONOUR_SHARE:
        return None
    options = [h for h in BIO_HONOURS if has_society or "{society}" not in h]
    if ctx["level"] is not SENIOR:
        options = [h for h in options if "津贴" not in h]
    if first_level == LAW:
        options.append(BIO_LAW_HONOUR)
    return rng.choice(options)


def _achievements(rng: random.Random, ctx: dict[str, Any], on: date) -> list[dict[str, str]]:
    domain: Domain = ctx["domain"]
    first_level = domain.parent.name
    technical = _is_technical(domain)
    scholarly = ctx["family"] in SCHOLARLY_FAMILIES
    official = ctx["employer"].is_government
    weights = ACHIEVEMENT_KIND_WEIGHTS_SCHOLARLY if scholarly else ACHIEVEMENT_KIND_WEIGHTS_PRACTICE
    journals = JOURNALS.get(first_level, GENERIC_JOURNALS)
    publishers = PUBLISHERS.get(first_level, ()) + GENERAL_PUBLISHERS
    first_year = max(on.year - ACHIEVEMENT_YEARS_BACK, on.year - max(ctx["years"], 1))
    projects = list(GOVERNMENT_PROJECT_TEMPLATES if official else PROJECT_TEMPLATES_COMMON)
    awards = list(AWARD_TEMPLATES_COMMON)
    if not official:
        projects.append(PROVINCIAL_PROJECT_TECHNICAL if technical else PROVINCIAL_PROJECT_SOCIAL)
        awards.extend(AWARD_TEMPLATES_TECHNICAL if technical else AWARD_TEMPLATES_SOCIAL)
    if scholarly:
        projects.append(NATIONAL_PROJECT_TECHNICAL if technical else NATIONAL_PROJECT_SOCIAL)
    if ctx["family"] in ENGINEERING_FAMILIES:
        awards.append(AWARD_TEMPLATE_ENGINEERING)
    templates = {
        "publication": PUBLICATION_TEMPLATES_PAPERS + (() if official else PUBLICATION_TEMPLATES_BOOKS),
        "project": tuple(projects),
        "award": tuple(awards),
    }
    role = rng.choice(PROJECT_ROLES_SCHOLARLY if scholarly else PROJECT_ROLES_PRACTICE)
    achievements: list[dict[str, str]] = []
    used: set[str] = set()
    for _ in range(rng.randint(*ACHIEVEMENT_COUNT_RANGE)):
        kind = rng.choices(ACHIEVEMENT_KINDS, weights=weights)[0]
        template = rng.choice(templates[kind])
        if template in used:
            continue  # one national grant, one evaluation … per person reads truer
        used.add(template)
        kw, kw2 = rng.sample(ctx["keywords"], 2)
        title = template.format(
            kw=kw, kw2=kw2, field=domain.name, city=CITY, year=rng.randint(first_year, on.year - 1),
            journal=rng.choice(journals), publisher=rng.choice(publishers), issue=rng.randint(1, ISSUES_PER_YEAR),
            role=role,
            grade=rng.choices([g for g, _ in AWARD_GRADES], weights=[w for _, w in AWARD_GRADES])[0],
        )
        achievements.append({"kind": kind, "title": title})
    return achievements


# ---------------------------------------------------------------------------
# Statuses and users
# ---------------------------------------------------------------------------


def _vary_statuses(rng: random.Random, candidates: list[Expert]) -> None:
    """A few suspended and exited experts, so lists and filters show variety."""
    chosen = rng.sample(candidates, min(len(candidates), SUSPENDED_COUNT + EXITED_COUNT))
    for index, expert in enumerate(chosen):
        status = ExpertStatus.SUSPENDED if index < SUSPENDED_COUNT else ExpertStatus.EXITED
        expert.status = status
        if status is ExpertStatus.EXITED and expert.current_appointment is not None:
            expert.current_appointment.is_current = False
        audit.record(None, "expert.status_demo", "expert", expert.id, status=status.value, reason="演示数据")


def _user_exists(username: str) -> bool:
    return db.session.execute(sa.select(User.id).where(User.username == username)).first() is not None


def _create_users(organisations: dict[str, tuple[Organisation, OrgSpec]], login_expert: Expert) -> None:
    for login in DEMO_LOGINS:
        if _user_exists(login.username):
            continue  # e.g. made by hand or by `flask init`: leave it alone
        create_user(
            None,
            username=login.username,
            password=DEMO_PASSWORD,
            display_name=login_expert.name if login.role is Role.EXPERT else login.display_name,
            role=login.role,
            organisation_id=organisations[login.organisation][0].id if login.organisation else None,
            expert_id=login_expert.id if login.role is Role.EXPERT else None,
        )


# ---------------------------------------------------------------------------
# The consultation workflow (DOMAIN.md "Consultation workflow")
# ---------------------------------------------------------------------------
#
# Five decision items, each taken as far as its story goes, every step through
# the real operation as the actor who does it in real use: the department
# files, confirms, records attendance, adoption and ratings; the talent office
# recommends; each expert answers and writes with their own account. The clock
# (core.clock, app.config["CLOCK_NOW"]) is pinned to the moment of each step, so
# the stored times tell a consistent story (a meeting last month was confirmed
# two weeks before it, answered the next day, ...).
#
# The steps of all items run in time order (a merge of one generator per item),
# so what the matcher sees of earlier panels (rotation, workload) is what it
# would have seen on that day.

# Hours before the load at which today's steps happened: the pending invitations are still open.
HOURS_BEFORE_CONFIRMATION = 5
HOURS_BEFORE_ANSWERS = 2
EXPERT_USERNAME = "zj{expert_id:04d}"
MEETING_START, MEETING_END = time(9, 30), time(12, 0)
WEDNESDAY = 2

DECLINE_REASONS = (
    "会议当日须赴省城参加学术委员会会议，时间冲突，无法出席。",
    "近期在外地主持课题调研，行程无法调整，谢谢邀请。",
    "本人所在单位近期承担相关项目的咨询工作，为避免利益冲突，申请回避。",
)


def _no_text(query_text, *, keywords=(), domains=(), candidate_ids=None, limit=1000):
    """No text relevance: `make demo` builds the search index after the load (Makefile: `flask demo`,
    then `flask search reindex`), and the experts created here are not committed yet, so no index can
    know them. Ranking then rests on domain match, tier and rotation."""
    return {}


def _opinion(necessity, legality, feasibility, risks, suggestions, conclusion, dissent=""):
    return {"necessity": necessity, "legality": legality, "feasibility": feasibility, "risks": risks,
            "suggestions": suggestions, "conclusion": conclusion, "dissent": dissent}


# Item 1: a meeting held last month (住建局).
RENEWAL_ITEM = {
    "title": f"{CITY}城市更新条例（草案）",
    "description": "为规范城市更新活动，统筹推进老旧小区改造、城中村改造和历史文化街区保护，拟以地方性法规形式"
                   "明确城市更新的规划管控、实施主体、资金平衡、产权处置和公众参与机制。",
    "category": "livelihood",
    "keywords": ["城市更新", "老旧小区改造", "城中村改造", "历史文化街区保护"],
}
RENEWAL_DOMAINS = ("城乡规划", "住房保障")
RENEWAL_STAKEHOLDERS = ("江海城市建设投资集团有限公司",)
RENEWAL_PLACE = f"{CITY}住房和城乡建设局三楼第一会议室"
RENEWAL_OPINIONS = (
    _opinion("我市城市更新工作目前主要依据政府规章和规范性文件，立法层级偏低，项目推进中的权责划分、资金平衡和"
             "产权处置缺乏上位依据，制定条例十分必要。",
             "草案总体符合《中华人民共和国城乡规划法》《国有土地上房屋征收与补偿条例》等上位法，未发现相抵触的条款。",
             "草案确立的“政府统筹、市场运作、居民参与”机制与我市近年试点经验相符，具有可操作性。",
             "更新单元划定后若长期未实施，可能影响单元内权利人的合法权益。",
             "建议增加更新单元实施期限和评估退出机制，逾期未实施的由原批准机关组织评估。", "agree"),
    _opinion("老旧小区和城中村改造任务重、资金缺口大，需要以法规形式稳定社会预期、引导社会资本参与。",
             "第十九条关于容积率奖励的规定须与国土空间详细规划的编制和审批程序衔接，建议明确由规划主管部门依法定程序批准。",
             "资金平衡条款较为原则，建议细化“微利可持续”模式下的收益测算和成本分担办法。",
             "容积率奖励若缺乏总量控制，可能导致局部地区公共服务设施承载力不足。",
             "建议在第十九条增加容积率奖励的上限和公共服务设施配建要求。", "agree_with_changes"),
    _opinion("历史文化街区和历史建筑保护是城市更新中的突出短板，条例设专章规定保护利用十分必要。",
             "第三章与《历史文化名城名镇名村保护条例》的规定一致，程序设置合法。",
             "“先评估、后更新”的要求符合实际，建议将历史建筑普查认定作为更新单元划定的前置条件。",
             "部分更新项目可能以“保护性开发”为名拆除未认定的历史建筑。",
             "建议增加更新项目开工前的文物和历史建筑调查评估程序。", "agree"),
    _opinion("城市更新立法有必要，但应以保障原住居民权益为前提。",
             "第二十八条规定“经更新单元内三分之二以上权利人同意即可实施”，实质上降低了房屋征收的程序要求，"
             "与《国有土地上房屋征收与补偿条例》关于公共利益认定和征收补偿程序的规定不尽一致。",
             "在补偿安置标准尚未明确的情况下，以多数决推进实施，容易引发矛盾纠纷，实施难度较大。",
             "存在较大的合法性风险和社会稳定风险，可能引发行政复议和诉讼。",
             "建议删除第二十八条的多数决规定，或明确仅适用于不涉及房屋征收的综合整治类项目。", "disagree",
             dissent="本人对草案第二十八条持保留意见：多数权利人同意不能替代法定的征收程序和公平补偿，"
                     "在该条修改前不同意草案提交审议。"),
)
RENEWAL_ADOPTION = (
    ("adopted", "已在草案第三十五条增加更新单元实施期限及评估退出的规定。"),
    ("adopted", "已在第十九条增加容积率奖励上限和公共服务设施配建要求。"),
    ("adopted", "已将历史建筑调查评估列为更新单元划定的前置程序。"),
    ("partly_adopted", "采纳关于补偿安置的意见，已在第二十八条增加征收补偿前置程序和社会稳定风险评估要求；"
                       "三分之二权利人同意的实施门槛系参照省内其他设区市立法经验确定，限定于综合整治类项目后予以保留。"),
)
# Who declines, by position on the recommended panel.
RENEWAL_DECLINING = (1, 3)
# Attendance of the five seated members, in the order they accepted.
RENEWAL_ATTENDANCE = (
    {"attendance": "on_time"},
    {"attendance": "late", "minutes_late": 20, "note": "因交通拥堵迟到，会前已电话告知"},
    {"attendance": "on_time"},
    {"attendance": "absent", "note": "会前未请假，会后说明因临时公务未能到会"},
    {"attendance": "on_time"},
)
# Ratings (quality, professionalism, punctuality, discipline, confidentiality) by seat; None: not rated
# yet, which the department's to-do list shows as overdue.
RENEWAL_RATINGS = (
    ((27, 23, 15, 15, 15), "意见针对性强，建议具体可行。"),
    ((25, 22, 9, 14, 15), "意见质量较高；迟到 20 分钟。"),
    ((26, 22, 15, 15, 15), "对历史文化保护条款提出了重要修改意见。"),
    ((0, 12, 0, 5, 15), "无故缺席论证会，未提交书面意见。"),
    None,
)

# Item 2 (a meeting next week) and item 5 (a written consultation under way) are built from the
# demo expert's own field and keywords: with no text relevance the matcher ranks by domain.
MEETING_TITLE = "关于进一步加强{kw}工作的若干措施（草案）"
MEETING_DESCRIPTION = ("针对我市{kw}、{kw2}等方面存在的突出问题，{department}拟出台若干措施，"
                       "现就其必要性、合法性、可行性和风险组织专家论证。")
WRITTEN_TITLE = CITY + "{kw2}管理办法（征求意见稿）"
WRITTEN_DESCRIPTION = "为规范{kw2}工作，{department}起草了管理办法征求意见稿，现书面征求专家意见。"
PICK_REASON = "人才工作部门从推荐名单中选定：{name}长期从事{kw}相关工作，与本事项契合度高"

# Item 3: a written consultation recommended, waiting for the department to confirm (住建局).
RENTAL_ITEM = {
    "title": f"{CITY}保障性租赁住房管理办法（修订征求意见稿）",
    "description": "拟修订保障性租赁住房的准入退出、租金定价和运营监管规定，扩大对新市民、青年人的覆盖范围。",
    "category": "livelihood",
    "keywords": ["保障性租赁住房", "租购并举", "住房租赁市场"],
}
RENTAL_DOMAINS = ("住房保障",)

# Item 4: a confidential written consultation, completed; its feedback is never published (发改委).
BONDS_ITEM = {
    "title": f"{CITY}政府专项债券项目资金安排方案",
    "description": "拟对下一年度新增政府专项债券额度在重大基础设施、城市更新和产业园区项目之间的分配提出方案。"
                   "本事项涉密，材料线下送达。",
    "category": "major_economic",
    "keywords": ["专项债", "政府债务风险", "预算绩效管理"],
    "confidential": True,
}
BONDS_DOMAINS = ("财政预算", "金融监管")
BONDS_OPINIONS = (
    _opinion("专项债券额度有限，按项目成熟度和收益平衡情况统筹安排资金，有利于提高资金使用效益。",
             "方案依据《中华人民共和国预算法》和地方政府专项债券管理的有关规定编制，拟安排项目均已纳入项目库。",
             "拟安排项目前期手续基本完备，资金需求与建设进度匹配，具备发行条件。",
             "个别项目的收益测算依赖土地出让收入，存在收益不及预期的风险。",
             "建议对收益覆盖倍数低于 1.2 倍的项目建立动态监测和预警机制。", "agree"),
    _opinion("在政府债务风险总体可控的前提下，适度扩大专项债券对补短板项目的支持是必要的。",
             "方案符合专项债券资金不得用于经常性支出的规定。",
             "产业园区标准厂房项目的入园企业尚未全部落实，收益存在不确定性。",
             "部分项目集中于同一区县，可能加大该区县的偿债压力。",
             "建议压减产业园区项目额度，向地下管网改造等收益稳定的项目倾斜。", "agree_with_changes"),
    _opinion("方案统筹考虑了项目收益、偿债能力和区域平衡，十分必要。",
             "资金安排程序合规，拟提交市政府常务会议审议后报市人大常委会备案，符合规定。",
             "各项目资金使用计划明确，具备可行性。",
             "需关注专项债券资金拨付后闲置的风险。",
             "建议将资金支出进度纳入预算绩效管理，对支出进度滞后的项目及时调整用途。", "agree"),
)
BONDS_ADOPTION = (
    ("adopted", "已建立收益覆盖倍数动态监测机制。"),
    ("partly_adopted", "地下管网改造项目额度已调增；产业园区项目已签约入园企业，额度予以保留。"),
    ("adopted", "已将资金支出进度纳入绩效目标。"),
)
BONDS_RATINGS = (((28, 24, 15, 15, 15), "意见专业，提交及时。"),
                 ((27, 23, 15, 15, 15), "对项目收益风险的分析具体深入。"),
                 ((26, 22, 15, 15, 15), ""))


@dataclass
class _Cast:
    """Who does what in the scenarios, and the counts of what they did."""

    office: User
    departments: dict[str, User]
    demo_expert: Expert
    organisations: dict[str, tuple[Organisation, OrgSpec]]
    counts: dict[str, int]

    def department_for(self, expert: Expert) -> User:
        """The demo department whose field the expert works in (发改委 when neither)."""
        first_level = expert.primary_domain.parent.name if expert.primary_domain.parent else ""
        for name, user in self.departments.items():
            if first_level in self.organisations[name][1].domains:
                return user
        return self.departments[DEPARTMENT_FGW]

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


def _cast(organisations: dict[str, tuple[Organisation, OrgSpec]], demo_expert: Expert) -> _Cast | None:
    """The demo logins acting in the scenarios; None if one of them is not the demo's own (made by hand)."""
    def user(username: str, role: Role, organisation: str | None = None) -> User | None:
        found = db.session.execute(sa.select(User).where(User.username == username)).scalar_one_or_none()
        if found is None or found.role is not role:
            return None
        if organisation is not None and found.organisation_id != organisations[organisation][0].id:
            return None
        return found

    office = next((user(d.username, d.role) for d in DEMO_LOGINS if d.role is Role.TALENT_OFFICE), None)
    departments = {d.organisation: user(d.username, d.role, d.organisation) for d in DEMO_LOGINS
                   if d.role is Role.DEPARTMENT}
    expert_login = next((user(d.username, d.role) for d in DEMO_LOGINS if d.role is Role.EXPERT), None)
    if office is None or None in departments.values() or getattr(expert_login, "expert_id", None) != demo_expert.id:
        return None
    return _Cast(office, departments, demo_expert, organisations, {})


def _expert_user(cast: _Cast, expert_id: int) -> User:
    """The expert's own account: the demo login, or one made for them (same demo password)."""
    found = db.session.execute(
        sa.select(User).where(User.expert_id == expert_id, User.role == Role.EXPERT).order_by(User.id).limit(1)
    ).scalar_one_or_none()
    if found is not None:
        return found
    expert = db.session.get(Expert, expert_id)
    username = EXPERT_USERNAME.format(expert_id=expert_id)
    while _user_exists(username):
        username += "x"
    cast.count("expert_accounts")
    return create_user(None, username=username, password=DEMO_PASSWORD, display_name=expert.name,
                       role=Role.EXPERT, expert_id=expert_id)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=display_zone())


def _weekday_on_or_before(day: date, weekday: int) -> date:
    return day - timedelta(days=(day.weekday() - weekday) % 7)


def _domain_ids(names: tuple[str, ...]) -> list[int]:
    found = dict(db.session.execute(
        sa.select(Domain.name, Domain.id).where(Domain.name.in_(names), Domain.is_active)).all())
    return [found[name] for name in names if name in found]


def _organisation_ids(cast: _Cast, names: tuple[str, ...]) -> list[int]:
    return [cast.organisations[name][0].id for name in names if name in cast.organisations]


def _file(cast: _Cast, department: User, item: dict[str, Any], request: dict[str, Any]) -> PanelRequest:
    """The department files the item and its panel request."""
    data = {"description": "", "domain_ids": [], "keywords": [], "stakeholder_ids": [],
            "planned_decision_date": None, "confidential": False, **item}
    created = create_item(department, data)
    request_data = {"required_domain_ids": [], "meeting_date": None, "meeting_time": None, "meeting_end_time": None,
                    "meeting_place": None, "deadline": None, "institution_id": None,
                    "selection_method": "recommend", "avoid": [], "note": "", **request}
    panel_request = create_panel_request(department, created, request_data)
    cast.count("decision_items")
    cast.count("panel_requests")
    return panel_request


def _recommend(cast: _Cast, request: PanelRequest) -> Recommendation:
    cast.count("recommendations")
    return run_recommendation(cast.office, request, "recommend", relevance=_no_text)


def _with_demo_expert(cast: _Cast, record: Recommendation, keyword: str) -> Recommendation:
    """The panel with the demo expert on it, if the matcher did not put them there.

    `recommend` leaves the choice to the talent office, from the ranked list: it replaces the lowest-ranked
    member it can (make_replacement checks every hard filter and composition rule again). If the demo
    expert did not qualify, or no replacement keeps the rules, the panel stays as recommended.
    """
    expert = cast.demo_expert
    panel = record.result["panel"] if record.result else []
    ranks = {c["expert_id"]: c["rank"] for c in record.candidates}
    if expert.id in panel or expert.id not in ranks or not record.compliant:
        return record
    for remove_id in sorted(panel, key=lambda i: -ranks.get(i, 0)):
        try:
            replaced = replace_member(cast.office, record, {
                "remove_expert_id": remove_id, "add_expert_id": expert.id,
                "reason": PICK_REASON.format(name=expert.name, kw=keyword)})
        except ValidationFailed:
            continue
        cast.count("recommendations")
        return replaced
    return record


def _confirm(cast: _Cast, department: User, request: PanelRequest, record: Recommendation) -> list[Invitation]:
    invitations = confirm_panel(department, request, record.id).invitations
    cast.count("invitations", len(invitations))
    return invitations


def _accept(cast: _Cast, invitation: Invitation) -> Engagement:
    accept(_expert_user(cast, invitation.expert_id), invitation)
    return invitation.engagement


def _decline(cast: _Cast, invitation: Invitation, reason: str) -> Invitation | None:
    """The expert declines; the alternate invited in their place (None if there was none)."""
    decline(_expert_user(cast, invitation.expert_id), invitation, reason)
    stand_in = db.session.execute(
        sa.select(Invitation).where(Invitation.replaces_id == invitation.id)).scalar_one_or_none()
    if stand_in is not None:
        cast.count("invitations")
    return stand_in


def _submit(cast: _Cast, engagement: Engagement, opinion: dict[str, Any]) -> Opinion:
    cast.count("opinions")
    return save_opinion(_expert_user(cast, engagement.expert_id), engagement, opinion, submit=True)


def _adopt(cast: _Cast, department: User, opinion: Opinion, decision: str, reason: str) -> None:
    record_adoption(department, opinion, {"decision": decision, "reason": reason})
    cast.count("adoption_feedback")


def _rate(cast: _Cast, department: User, engagement: Engagement, points, comment: str) -> None:
    rate(department, engagement, {**dict(zip(RATING_PARTS, points)), "comment": comment})
    cast.count("ratings")


def _completed_meeting(cast: _Cast, on: date) -> Iterator[datetime]:
    """Item 1: a 论证会 last month, from filing to ratings; two declines replaced, one late, one absent."""
    department = cast.departments[DEPARTMENT_ZJJ]
    meeting = _weekday_on_or_before(on - timedelta(days=28), WEDNESDAY)
    yield _at(meeting - timedelta(days=21), 10)
    request = _file(cast, department, {
        **RENEWAL_ITEM, "domain_ids": _domain_ids(RENEWAL_DOMAINS),
        "stakeholder_ids": _organisation_ids(cast, RENEWAL_STAKEHOLDERS),
        "planned_decision_date": meeting + timedelta(days=45),
    }, {
        "mode": "meeting", "seats": 5,
        "meeting_date": meeting, "meeting_time": MEETING_START, "meeting_end_time": MEETING_END,
        "meeting_place": RENEWAL_PLACE, "note": "请重点论证补偿安置和历史建筑保护条款。",
    })
    yield _at(meeting - timedelta(days=20), 10)
    record = _recommend(cast, request)
    yield _at(meeting - timedelta(days=14), 9)
    invited = _confirm(cast, department, request, record)
    seated: list[Engagement] = []
    stand_ins: list[Invitation] = []
    # The next morning, within the answer window; each decline invites the next alternate at once.
    for index, invitation in enumerate(invited):
        yield _at(meeting - timedelta(days=13), 8, 10 * index)
        if index in RENEWAL_DECLINING:
            stand_in = _decline(cast, invitation, DECLINE_REASONS[len(stand_ins)])
            if stand_in is not None:
                stand_ins.append(stand_in)
        else:
            seated.append(_accept(cast, invitation))
    for index, invitation in enumerate(stand_ins):
        yield _at(meeting - timedelta(days=13), 15 + index)
        seated.append(_accept(cast, invitation))
    # The meeting: attendance after it ends, the opinions in the afternoon.
    yield _at(meeting, 12, 10)
    for engagement, attendance in zip(seated, RENEWAL_ATTENDANCE):
        record_attendance(department, engagement, attendance)
    writers = [e for e, a in zip(seated, RENEWAL_ATTENDANCE) if a["attendance"] != "absent"]
    opinions = []
    for index, (engagement, text) in enumerate(zip(writers, RENEWAL_OPINIONS)):
        yield _at(meeting, 15 + index, 30)
        opinions.append(_submit(cast, engagement, text))
    # Two days later: adoption feedback (published: the item is not confidential) and ratings, one missing.
    yield _at(meeting + timedelta(days=2), 10)
    for opinion, (decision, reason) in zip(opinions, RENEWAL_ADOPTION):
        _adopt(cast, department, opinion, decision, reason)
    yield _at(meeting + timedelta(days=2), 16)
    for engagement, rating in zip(seated, RENEWAL_RATINGS):
        if rating is not None:
            _rate(cast, department, engagement, *rating)


def _confidential_written(cast: _Cast, on: date) -> Iterator[datetime]:
    """Item 4: a confidential 书面咨询, completed; its adoption feedback stays unpublished."""
    department = cast.departments[DEPARTMENT_FGW]
    deadline = _weekday_on_or_before(on - timedelta(days=10), WEDNESDAY)
    yield _at(deadline - timedelta(days=16), 11)
    request = _file(cast, department, {
        **BONDS_ITEM, "domain_ids": _domain_ids(BONDS_DOMAINS), "planned_decision_date": deadline + timedelta(days=20),
    }, {"mode": "written", "seats": 3, "deadline": deadline, "note": "涉密事项：材料线下送达，请勿复制外传。"})
    yield _at(deadline - timedelta(days=15), 10)
    record = _recommend(cast, request)
    yield _at(deadline - timedelta(days=13), 9)
    invited = _confirm(cast, department, request, record)
    seated = []
    for index, invitation in enumerate(invited):
        yield _at(deadline - timedelta(days=12), 8, 20 * index)
        seated.append(_accept(cast, invitation))
    opinions = []
    for index, (engagement, text) in enumerate(zip(seated, BONDS_OPINIONS)):
        yield _at(deadline, 10 + 2 * index)
        opinions.append(_submit(cast, engagement, text))
    yield _at(deadline + timedelta(days=2), 10)
    for opinion, (decision, reason) in zip(opinions, BONDS_ADOPTION):
        _adopt(cast, department, opinion, decision, reason)
    for engagement, rating in zip(seated, BONDS_RATINGS):
        _rate(cast, department, engagement, *rating)


def _demo_expert_item(cast: _Cast, title: str, description: str, department: User) -> dict[str, Any]:
    expert = cast.demo_expert
    kw, kw2 = expert.keywords[0], expert.keywords[1 % len(expert.keywords)]
    short = _short_name(db.session.get(Organisation, department.organisation_id).name)
    title = title.replace("{kw2}管理", "{kw2}") if kw2.endswith("管理") else title  # not 规范性文件管理管理办法
    return {"title": title.format(kw=kw, kw2=kw2), "description": description.format(kw=kw, kw2=kw2, department=short),
            "category": "professional", "domain_ids": [expert.primary_domain_id], "keywords": [kw, kw2]}


def _upcoming_meeting(cast: _Cast, started: datetime) -> Iterator[datetime]:
    """Item 2: a 论证会 next week, confirmed a few hours ago, partly answered; the demo expert's invitation waits."""
    on = started.astimezone(display_zone()).date()
    department = cast.department_for(cast.demo_expert)
    meeting = on + timedelta(days=7 - on.weekday() + WEDNESDAY)  # next week's Wednesday
    item = _demo_expert_item(cast, MEETING_TITLE, MEETING_DESCRIPTION, department)
    yield started - timedelta(days=3)
    request = _file(cast, department, {**item, "planned_decision_date": meeting + timedelta(days=30)}, {
        "mode": "meeting", "seats": 5, "meeting_date": meeting, "meeting_time": time(14, 30),
        "meeting_end_time": time(17, 0), "meeting_place": f"{CITY}人民政府行政中心 2 号楼 306 会议室",
    })
    yield started - timedelta(days=2)
    record = _with_demo_expert(cast, _recommend(cast, request), item["keywords"][0])
    yield started - timedelta(hours=HOURS_BEFORE_CONFIRMATION)
    invited = _confirm(cast, department, request, record)
    # Two accept and one declines (the alternate is invited); the others, the demo expert among them, have not answered.
    others = [i for i in invited if i.expert_id != cast.demo_expert.id]
    yield started - timedelta(hours=HOURS_BEFORE_ANSWERS)
    for invitation in others[:2]:
        _accept(cast, invitation)
    if len(others) > 2:
        _decline(cast, others[2], DECLINE_REASONS[2])


def _written_under_way(cast: _Cast, started: datetime) -> Iterator[datetime]:
    """Item 5: a 书面咨询 due in a few days; every member accepted, the demo expert has an opinion to write."""
    on = started.astimezone(display_zone()).date()
    department = cast.department_for(cast.demo_expert)
    deadline = on + timedelta(days=4)
    item = _demo_expert_item(cast, WRITTEN_TITLE, WRITTEN_DESCRIPTION, department)
    yield started - timedelta(hours=45)
    request = _file(cast, department, {**item, "planned_decision_date": deadline + timedelta(days=30)},
                    {"mode": "written", "seats": 3, "deadline": deadline})
    # Recommended after the answers to item 2 came in: who accepted there now counts for rotation.
    yield started - timedelta(minutes=90)
    record = _with_demo_expert(cast, _recommend(cast, request), item["keywords"][1])
    yield started - timedelta(minutes=60)
    invited = _confirm(cast, department, request, record)
    for index, invitation in enumerate(invited):
        yield started - timedelta(minutes=40 - 10 * index)
        _accept(cast, invitation)


def _written_to_confirm(cast: _Cast, started: datetime) -> Iterator[datetime]:
    """Item 3: a 书面咨询 the talent office has recommended; the department has yet to confirm the panel."""
    on = started.astimezone(display_zone()).date()
    department = cast.departments[DEPARTMENT_ZJJ]
    yield started - timedelta(days=2)
    request = _file(cast, department, {**RENTAL_ITEM, "domain_ids": _domain_ids(RENTAL_DOMAINS)},
                    {"mode": "written", "seats": 3, "deadline": on + timedelta(days=21)})
    yield started - timedelta(days=1, hours=1)
    _recommend(cast, request)


# A scanned notice as evidence: the smallest well-formed PDF, enough for the type check and a download.
EVIDENCE_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
APPEAL_REASON = "会议当天因突发急病就医，已于会前一小时电话告知会务联系人，附医院门诊记录。"
SELF_ASSESSMENTS = ((92, "全年参加城市更新、专项债等论证，按时提交书面意见，无缺席。"),
                    (85, "参加论证一次，意见被部分采纳；今后加强对风险条款的研究。"))


def _integrity_and_assessment(cast: _Cast, started: datetime) -> Iterator[datetime]:
    """After item 1: the absent expert appeals (left for the office to decide), the office records a
    perfunctory opinion with its evidence, and this year's assessment opens with two self-assessments."""
    from experts_service.assessment.operations import open_cycle, submit_self_assessment
    from experts_service.integrity.models import EventKind, IntegrityEvent
    from experts_service.integrity.operations import file_appeal, record_event

    on = started.astimezone(display_zone()).date()
    yield _at(on - timedelta(days=24), 9)
    events = db.session.execute(sa.select(IntegrityEvent).order_by(IntegrityEvent.id)).scalars().all()
    absence = next((e for e in events if e.kind is EventKind.ABSENT), None)
    late = next((e for e in events if e.kind is EventKind.LATE), None)
    if absence is not None:
        file_appeal(_expert_user(cast, absence.expert_id), absence, APPEAL_REASON)
        cast.count("appeals")
    yield _at(on - timedelta(days=20), 15)
    if late is not None:
        record_event(cast.office, db.session.get(Expert, late.expert_id), {
            "kind": EventKind.PERFUNCTORY_OPINION.value, "occurred_on": late.occurred_on,
            "description": "书面意见对补偿安置条款仅写“原则同意”，未作任何分析，经承办部门反映并核实。",
            "panel_request_id": late.panel_request_id}, [("承办部门情况说明.pdf", EVIDENCE_PDF)])
        cast.count("integrity_events_recorded")
    yield _at(on - timedelta(days=3), 9)
    cycle = open_cycle(cast.office, on.year)
    cast.count("assessment_results", len(cycle.results))
    engaged = db.session.execute(sa.select(Engagement.expert_id).where(
        Engagement.engaged_on >= date(on.year, 1, 1)).order_by(Engagement.id)).scalars().all()
    for expert_id, (score, summary) in zip(dict.fromkeys(engaged), SELF_ASSESSMENTS):
        yield _at(on - timedelta(days=2), 10)
        submit_self_assessment(_expert_user(cast, expert_id), cycle, {"score": score, "summary": summary})


@contextmanager
def _pinned_clock():
    """Lets the scenarios set app.config["CLOCK_NOW"]; puts back whatever was there."""
    config = current_app.config
    had, before = "CLOCK_NOW" in config, config.get("CLOCK_NOW")
    try:
        yield config
    finally:
        if had:
            config["CLOCK_NOW"] = before
        else:
            config.pop("CLOCK_NOW", None)


def _run_consultations(organisations: dict[str, tuple[Organisation, OrgSpec]], demo_expert: Expert) -> dict[str, int]:
    """Every scenario, step by step in time order, each step at its own moment on the service's clock."""
    cast = _cast(organisations, demo_expert)
    if cast is None:
        return {}  # a login of the demo's name belongs to someone else: act as nobody
    started = now()
    on = started.astimezone(display_zone()).date()
    scenarios = [_completed_meeting(cast, on), _upcoming_meeting(cast, started), _written_to_confirm(cast, started),
                 _confidential_written(cast, on), _written_under_way(cast, started),
                 _integrity_and_assessment(cast, started)]
    queue = [(next(steps), order, steps) for order, steps in enumerate(scenarios)]
    heapq.heapify(queue)
    with _pinned_clock() as config:
        while queue:
            moment, order, steps = heapq.heappop(queue)
            # In UTC, as the unpinned clock gives it: an opinion's signature covers the isoformat of its time,
            # and the database hands times back in UTC.
            config["CLOCK_NOW"] = moment.astimezone(timezone.utc)
            try:
                following = next(steps, None)
            except ServiceError as refused:
                # A small pool (`--experts 10`) may not fill a panel by the rules: the item stays where the
                # operations left it (each refuses before it writes), the others go on.
                log.warning("demo item %s (%s) stopped: %s", order + 1, steps.__name__, refused.message)
                cast.count("scenarios_stopped")
                continue
            if following is not None:
                heapq.heappush(queue, (max(following, moment), order, steps))
    return cast.counts
