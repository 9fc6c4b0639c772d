"""Reference data every installation starts with (docs/DOMAIN.md)."""
from __future__ import annotations

import sqlalchemy as sa

from experts_service.core import audit
from experts_service.extensions import db
from experts_service.reference.models import Domain, Tier

# First-level domains of DOMAIN.md, each with second-level fields; the
# DOMAIN.md examples are placed under the first level they belong to.
DOMAIN_TREE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("产业发展", ("产业规划", "科技创新", "数字经济", "市场监管")),
    ("社会管理", ("城市治理", "社会救助", "社会保障", "应急管理")),
    ("城乡建设", ("城乡规划", "公用事业", "交通运输", "住房保障")),
    ("财税金融", ("减税降费", "公共资源配置", "财政预算", "金融监管")),
    ("依法行政", ("行政立法", "合法性审查", "行政复议与诉讼")),
    ("环境资源", ("资源开发", "生态保护", "污染防治", "碳达峰碳中和")),
    ("人才教育", ("就业创业", "人才政策", "基础教育", "高等教育")),
    ("文化发展", ("文化产业", "文物保护", "公共文化服务")),
    ("医疗卫生", ("公共卫生", "医疗保障", "医药产业")),
    ("农业农村", ("乡村振兴", "农业产业", "农村改革")),
)

TIERS: tuple[tuple[str, str, int, bool], ...] = (
    ("chief", "首席专家", 1, True),
    ("core", "核心专家", 2, True),
    ("general", "库员专家", 3, False),
)


def seed_reference_data() -> dict[str, int]:
    """Insert what is missing; safe to run on every `flask init`."""
    added = {"domains": 0, "tiers": 0}
    existing = {d.code for d in db.session.execute(sa.select(Domain)).scalars()}
    for first_index, (first_name, children) in enumerate(DOMAIN_TREE, start=1):
        code = f"D{first_index:02d}"
        parent = db.session.execute(sa.select(Domain).where(Domain.code == code)).scalar()
        if code not in existing:
            parent = Domain(code=code, name=first_name, sort_order=first_index)
            db.session.add(parent)
            db.session.flush()
            added["domains"] += 1
        for child_index, child_name in enumerate(children, start=1):
            child_code = f"{code}-{child_index:02d}"
            if child_code not in existing:
                db.session.add(Domain(code=child_code, name=child_name, parent_id=parent.id,
                                      sort_order=first_index * 100 + child_index))
                added["domains"] += 1
    existing_tiers = {t.code for t in db.session.execute(sa.select(Tier)).scalars()}
    for code, name, rank, senior in TIERS:
        if code not in existing_tiers:
            db.session.add(Tier(code=code, name=name, rank=rank, is_senior=senior))
            added["tiers"] += 1
    db.session.flush()
    if any(added.values()):
        audit.record(None, "reference.seed", "reference", None, **added)
    return added
