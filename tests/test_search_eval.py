"""`flask search eval` runs the service's matching over a data set and writes score.py's format."""
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCORER = Path(__file__).resolve().parents[2] / "shared" / "eval" / "score.py"

EXPERTS = [
    ("e1", "甲大学", [("城市更新与老旧小区改造研究", "管理学")]),
    ("e2", "乙大学", [("碳排放权交易市场机制研究", "应用经济"), ("绿色金融政策评估", "应用经济")]),
    ("e3", "丙研究院", [("基层社会治理创新研究", "社会学")]),
    ("e4", "丁大学", [("《论语》诠释史研究", "哲学")]),
]
QUERIES = [
    ("q1", "老旧小区改造中的居民参与机制", "管理学", "dev", "e1"),
    ("q2", "全国碳排放权交易市场扩容研究", "应用经济", "dev", "e2"),
    ("q3", "新时代基层治理现代化路径", "社会学", "eval", "e3"),
]


def _write_retrieval_set(directory: Path) -> None:
    directory.mkdir()
    with gzip.open(directory / "experts.jsonl.gz", "wt", encoding="utf-8") as handle:
        for expert_id, institution, projects in EXPERTS:
            handle.write(json.dumps({"expert_id": expert_id, "institution": institution, "projects": [
                {"title": title, "discipline": discipline, "year": 2015} for title, discipline in projects
            ]}, ensure_ascii=False) + "\n")
    with gzip.open(directory / "queries.jsonl.gz", "wt", encoding="utf-8") as handle:
        for query_id, title, discipline, split, _ in QUERIES:
            handle.write(json.dumps({"query_id": query_id, "title": title, "discipline": discipline,
                                     "split": split}, ensure_ascii=False) + "\n")
    (directory / "qrels.tsv").write_text(
        "query_id\texpert_id\trelevance\n" + "".join(f"{q[0]}\t{q[4]}\t1\n" for q in QUERIES), encoding="utf-8")


def test_retrieval_set_finds_each_investigator_first(runner, tmp_path):
    dataset = tmp_path / "tiny_zh"
    _write_retrieval_set(dataset)
    out = tmp_path / "scores.jsonl"
    result = runner.invoke(args=["search", "eval", str(dataset), "--split", "dev", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["query_id"] for line in lines] == ["q1", "q2"]  # dev only
    for line, (_, _, _, _, relevant) in zip(lines, QUERIES, strict=False):
        best = max(line["scores"], key=line["scores"].get)
        assert best == relevant, line
    everything = tmp_path / "all.jsonl"
    assert runner.invoke(args=["search", "eval", str(dataset), "--split", "all", "--out", str(everything)]).exit_code == 0
    assert len(everything.read_text(encoding="utf-8").splitlines()) == 3
    if SCORER.exists():
        report = subprocess.run([sys.executable, str(SCORER), str(dataset), str(out)], capture_output=True,
                                text=True, check=True)
        assert json.loads(report.stdout.strip().splitlines()[-1])["mrr"] == 1.0


def test_pairwise_set_scores_every_rated_pair(runner, tmp_path):
    dataset = tmp_path / "tiny_en"
    dataset.mkdir()
    reviewers = [
        {"expert_id": 1, "papers": [{"title": "Renewable energy policy", "abstract": "Solar and wind subsidies."}]},
        {"expert_id": 2, "papers": [{"title": "Rural credit markets", "abstract": "Microfinance in villages."}]},
    ]
    papers = [{"query_id": "p1", "title": "Wind power subsidies", "abstract": "Energy policy for renewables."},
              {"query_id": "p2", "title": "Village microfinance", "abstract": "Credit for farmers."}]
    (dataset / "reviewers.jsonl").write_text("\n".join(json.dumps(r) for r in reviewers), encoding="utf-8")
    (dataset / "papers.jsonl").write_text("\n".join(json.dumps(p) for p in papers), encoding="utf-8")
    (dataset / "ratings.tsv").write_text("expert_id\tquery_id\trating\n1\tp1\t5\n1\tp2\t1\n2\tp1\t1\n2\tp2\t5\n",
                                         encoding="utf-8")
    out = tmp_path / "scores.jsonl"
    result = runner.invoke(args=["search", "eval", str(dataset), "--split", "all", "--out", str(out)])
    assert result.exit_code == 0, result.output
    scores = {line["query_id"]: line["scores"] for line in map(json.loads, out.read_text().splitlines())}
    assert set(scores["p1"]) == set(scores["p2"]) == {"1", "2"}  # every rated pair, matched or not
    assert scores["p1"]["1"] > scores["p1"]["2"]
    assert scores["p2"]["2"] > scores["p2"]["1"]


def test_unknown_layout_is_refused(runner, tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    result = runner.invoke(args=["search", "eval", str(empty), "--out", str(tmp_path / "x.jsonl")])
    assert result.exit_code != 0
    assert "不是可识别的评测数据目录" in result.output


@pytest.mark.parametrize("split", ["nosuchsplit"])
def test_a_split_without_queries_is_refused(runner, tmp_path, split):
    dataset = tmp_path / "tiny_zh"
    _write_retrieval_set(dataset)
    result = runner.invoke(args=["search", "eval", str(dataset), "--split", split, "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "没有查询" in result.output
