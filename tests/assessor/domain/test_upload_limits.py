"""Upload limits: a baseline file or registry text is refused by what it declares (zip
central directory, YAML events with aliases counted as copies) or by the rows and cells
it really holds, with a message naming the limit, before the reader allocates for it."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from assessor.domain.baseline import BaselineError, BaselineLimitError, parse_baseline
from assessor.domain.upload_limits import LimitBreach, UploadLimits, check_yaml_events, check_zip
from assessor.registry import parse_registry
from assessor.registry.importer import RegistryError, RegistryLimitError
from tests.support.hostile_files import billion_laughs, declaring, deflate_bomb, spanning, xlsx
from tests.support.registry_samples import ISSUE_YAML, TWO_FACTORIES_YAML

FACTORY = parse_registry(TWO_FACTORIES_YAML)[0]
GOOD_CSV = b"date,line,hours_worked,workers,produced,defects\n2022-09-01,line-1,7.5,3,900,12\n"


def limit_refused(
    data: bytes, name: str = "log.xlsx", limits: UploadLimits | None = None
) -> BaselineLimitError:
    with pytest.raises(BaselineLimitError) as info:
        parse_baseline(data, name, factory=FACTORY, limits=limits or UploadLimits())
    return info.value


# -- XLSX -----------------------------------------------------------------------------


def test_a_sheet_declaring_the_whole_excel_grid_is_read_by_the_cells_it_holds():
    """A1:XFD1048576 over four rows: read as declared, that is 16 billion cells. The
    small cell limit makes a reader that pads rows to the declared width fail at once
    instead of running for hours."""
    limits = UploadLimits(max_cells=1_000)
    days = parse_baseline(declaring("A1:XFD1048576"), "log.xlsx", factory=FACTORY, limits=limits)
    assert [(d.day.isoformat(), d.produced) for d in days] == [
        ("2022-09-01", 900),
        ("2022-09-02", 840),
        ("2022-09-05", 1000),
    ]


def test_a_row_beyond_the_excel_grid_is_refused_before_the_gap_is_walked():
    err = limit_refused(declaring("A1:F1048577"))
    assert err.status == 400
    assert err.breach.en == "the sheet names a row beyond row 1,048,576, the last row of an Excel sheet"


def test_a_sheet_whose_cells_span_the_grid_is_refused_at_the_cell_limit():
    err = limit_refused(spanning(200), limits=UploadLimits(max_cells=200_000))
    assert err.status == 413
    assert err.breach.en == (
        "the sheet has more than 200,000 cells by row 13 (that row alone is 16,384 columns wide); "
        "the limit is 200,000 cells"
    )
    assert "한도는 200,000셀입니다" in err.breach.ko
    assert err.errors[0].message == err.breach.en and err.errors[0].message_ko == err.breach.ko


def test_a_deflate_bomb_is_refused_by_its_central_directory():
    err = limit_refused(deflate_bomb(160))
    assert err.status == 413
    assert err.breach.en == "the .xlsx file unpacks to 160 MiB; the limit is 100 MiB"
    assert err.breach.ko == ".xlsx 파일의 압축을 풀면 160 MiB입니다. 한도는 100 MiB입니다."


def test_a_member_that_inflates_past_the_ratio_is_refused():
    err = limit_refused(deflate_bomb(3))
    assert err.status == 413
    assert err.breach.en.startswith("the .xlsx member 'xl/worksheets/sheet1.xml' inflates ")
    assert err.breach.en.endswith("; the limit is 100 times")


def test_an_archive_of_many_members_is_refused_before_they_are_listed():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for i in range(1_001):
            z.writestr(f"m{i}", b"")
    err = limit_refused(out.getvalue())
    assert err.breach.en == "the .xlsx archive holds 1,001 files; the limit is 1,000"


def test_check_zip_passes_an_ordinary_workbook_and_leaves_non_archives_to_openpyxl():
    check_zip(xlsx(), UploadLimits())
    check_zip(b"PK\x03\x04 not really", UploadLimits())
    with pytest.raises(BaselineError) as info:
        parse_baseline(b"PK\x03\x04 not really", "log.xlsx", factory=FACTORY)
    assert not isinstance(info.value, BaselineLimitError)


def test_an_ordinary_workbook_reads_as_before_within_limits():
    days = parse_baseline(xlsx(), "log.xlsx", factory=FACTORY, limits=UploadLimits(max_cells=24))
    assert len(days) == 3


# -- CSV --------------------------------------------------------------------------------


def test_csv_rows_over_the_row_limit_are_refused_and_blank_rows_do_not_count():
    body = GOOD_CSV + b"\n\n\n" + b"".join(b"2022-09-%02d,line-1,8,3,1,0\n" % d for d in range(2, 6))
    assert len(parse_baseline(body, "log.csv", factory=FACTORY, limits=UploadLimits(max_rows=6))) == 5
    err = limit_refused(body, "log.csv", UploadLimits(max_rows=5))
    assert err.breach.en == "the sheet has more than 5 rows with data (row 9); the limit is 5 rows"


def test_a_csv_row_of_a_million_separators_is_refused_at_the_cell_limit():
    # below the rows the header is looked for in, where the csv module's field limit
    # would refuse the line first when another separator is tried
    body = GOOD_CSV + b"\n" * 20 + b"x" + b"," * 1_000_000 + b"x\n"
    err = limit_refused(body, "log.csv")
    assert err.breach.en.startswith("the sheet has more than 1,000,000 cells by row 23 ")


# -- YAML -------------------------------------------------------------------------------


def test_billion_laughs_are_refused_from_the_events_alone():
    with pytest.raises(RegistryLimitError) as info:
        parse_registry(billion_laughs(), "registry.yaml")
    err = info.value
    assert err.status == 413
    assert err.errors == [
        "line 6: the YAML expands to more than 200,000 values (each alias counts as a copy of "
        "what it names); the limit is 200,000"
    ]
    assert "한도는 200,000개입니다" in err.breach.ko


def test_nesting_and_alias_count_are_structural_refusals():
    with pytest.raises(RegistryLimitError) as deep:
        parse_registry("factories: " + "[" * 60 + "]" * 60)
    assert deep.value.status == 400
    assert deep.value.errors == [
        "line 1: lists and mappings nested more than 50 deep; the limit is 50 levels"
    ]
    many = "a: &a x\nb: [" + ", ".join(["*a"] * 1_001) + "]\n"
    with pytest.raises(RegistryLimitError) as aliases:
        parse_registry(many)
    assert aliases.value.status == 400
    assert aliases.value.errors == ["line 2: more than 1,000 aliases (*a); the limit is 1,000 aliases"]


def test_an_ordinary_registry_with_anchors_still_imports():
    shared = ISSUE_YAML.replace("    calendar:", "    calendar: &cal").replace(
        "        machines:", "        machines: &m"
    )
    assert parse_registry(shared) == parse_registry(ISSUE_YAML)


def test_broken_yaml_is_reported_as_before():
    with pytest.raises(RegistryError) as info:
        parse_registry("factories: [\n")
    assert not isinstance(info.value, RegistryLimitError)
    assert "not valid YAML" in info.value.errors[0]


def _expanded(value: Any) -> int:
    """Values of a loaded document, a shared object counted wherever it appears."""
    if isinstance(value, dict):
        return 1 + sum(_expanded(k) + _expanded(v) for k, v in value.items())
    if isinstance(value, list):
        return 1 + sum(_expanded(v) for v in value)
    return 1


_scalars = st.one_of(st.integers(-5, 5), st.text("ab", max_size=3), st.booleans(), st.none())
_trees = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text("xyz", min_size=1, max_size=2), inner, max_size=3),
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(_trees, min_size=1, max_size=4), picks=st.lists(st.integers(0, 3), max_size=6))
def test_event_count_equals_the_values_of_the_loaded_document(parts: list[Any], picks: list[int]):
    """yaml.dump writes an object used twice as an anchor and an alias: the count from
    the events must be what loading makes of it, each alias a full copy."""
    doc = {"parts": parts, "again": [parts[i % len(parts)] for i in picks]}
    text = yaml.safe_dump(doc)
    counted = check_yaml_events(yaml.parse(text, Loader=yaml.SafeLoader), UploadLimits())
    assert counted == _expanded(yaml.safe_load(text))


def test_limit_breach_survives_a_trip_between_processes():
    import pickle

    breach = pickle.loads(pickle.dumps(LimitBreach(413, "en", "ko")))
    assert (breach.status, breach.en, breach.ko, str(breach)) == (413, "en", "ko", "en")


def test_limits_are_config_settings_with_documented_defaults(tmp_path):
    from assessor.config import AssessorConfigError, load_assessor_config

    path = tmp_path / "assessor.yaml"
    path.write_text("uploads: {max_cells: 50000, parse_timeout_s: 5}\n", encoding="utf-8")
    cfg = load_assessor_config(path, env={})
    assert cfg.uploads.max_cells == 50_000 and cfg.uploads.parse_timeout_s == 5
    assert cfg.uploads.max_rows == 100_000 and cfg.uploads.max_unzipped_bytes == 100 * 2**20
    path.write_text("uploads: {max_cels: 5}\n", encoding="utf-8")
    with pytest.raises(AssessorConfigError) as info:
        load_assessor_config(path, env={})
    assert "uploads.max_cels" in str(info.value)
