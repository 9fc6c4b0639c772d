"""Pure rules: GB 11643 ID numbers, masking, pinyin name keys, policy parsing."""
from datetime import date

import pytest

from experts_service.core.idcard import InvalidIdNumber, check_digit, mask_id_number, mask_mobile, parse_id_number
from experts_service.experts.names import name_search_key, name_sort_key
from experts_service.policy import RULES, RULES_BY_KEY, check_consistency, defaults


@pytest.mark.parametrize("number, birth, sex", [
    ("11010519491231002X", date(1949, 12, 31), "female"),  # the standard's own example
    ("330102197506150311", date(1975, 6, 15), "male"),
])
def test_valid_numbers_give_birth_date_and_sex(number, birth, sex):
    first17 = number[:17]
    number = first17 + check_digit(first17)
    facts = parse_id_number(number.lower())
    assert facts.normalised == number.upper()
    assert (facts.birth_date, facts.sex) == (birth, sex)


def test_check_digit_of_the_standards_example():
    assert check_digit("11010519491231002") == "X"


@pytest.mark.parametrize("number, message", [
    ("110105194912310021", "校验码错误"),
    ("11010519491331002X", "出生日期无效"),
    ("11010518000101002X", "出生日期无效"),
    ("1101051949123100", "18位"),
    ("01010519491231002X", "18位"),
    ("11010519491231002Y", "18位"),
    ("", "18位"),
])
def test_invalid_numbers_are_refused_with_a_reason(number, message):
    with pytest.raises(InvalidIdNumber, match=message):
        parse_id_number(number)


def test_future_birth_date_is_refused():
    first17 = "33010220991231001"
    with pytest.raises(InvalidIdNumber, match="出生日期"):
        parse_id_number(first17 + check_digit(first17), today=date(2026, 11, 23))


def test_masks_keep_only_region_and_last_digits():
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_mobile("13912345678") == "139****5678"


@pytest.mark.parametrize("name, expected_tokens, sort_key", [
    ("张伟", {"zhangwei", "zw"}, "zhang wei"),
    ("单雄", {"shanxiong", "sx", "danxiong"}, "shan xiong"),
    ("曾国藩", {"zengguofan", "zgf"}, "zeng guo fan"),
    ("欧阳娜娜", {"ouyangnana", "oynn"}, "ou yang na na"),
    ("李·明", {"liming", "lm"}, "li ming"),
])
def test_name_keys_cover_pinyin_initials_and_surname_readings(name, expected_tokens, sort_key):
    assert expected_tokens <= set(name_search_key(name).split())
    assert name_sort_key(name) == sort_key


def test_given_names_do_not_offer_rare_readings():
    # 立 can be read "wei" in classical texts; nobody searches 赵立锋 as "zwf".
    assert "zwf" not in name_search_key("赵立锋").split()


def test_policy_defaults_follow_domain_md():
    values = defaults()
    assert values["max_age_at_application"] == 65 and values["max_age_academician"] == 70
    assert values["yearly_engagement_cap"] == 10 and values["max_same_system_share"] == "1/3"
    assert (values["weight_ratings_percent"], values["weight_integrity_percent"], values["weight_self_percent"]) == (60, 30, 10)
    assert check_consistency(values) == {}
    assert len(RULES_BY_KEY) == len(RULES)


@pytest.mark.parametrize("key, raw, expected", [
    ("yearly_engagement_cap", "8", 8),
    ("max_same_system_share", "2/5", "2/5"),
    ("meeting_seats_must_be_odd", "on", True),
])
def test_rule_parsing(key, raw, expected):
    assert RULES_BY_KEY[key].parse(raw) == expected


@pytest.mark.parametrize("key, raw", [
    ("yearly_engagement_cap", "abc"),
    ("yearly_engagement_cap", "0"),
    ("yearly_engagement_cap", 2.5),
    ("max_same_system_share", "3/2"),
    ("max_same_system_share", "1/0"),
    ("meeting_seats_must_be_odd", "maybe"),
])
def test_rule_parsing_refuses_bad_values(key, raw):
    with pytest.raises(ValueError):
        RULES_BY_KEY[key].parse(raw)
