"""Registry products: the issue's example imports, and every bad product entry is refused
naming its key path and line."""

from __future__ import annotations

import pytest

from assessor.domain.models import Product
from assessor.registry import RegistryError, parse_registry

#: the issue's example, with the machine its override names (cnc-02) on the line: a
#: machine-specific time must name a machine of the factory
PRODUCTS_YAML = """\
factories:
  - id: demo-factory
    name: 데모정밀
    products:
      - {id: A-100, name: 브래킷, ideal_cycle_time: 20s}
      - {id: B-200, name: 하우징, ideal_cycle_time: 45s,
         machines: {cnc-02: 40s}}          # a machine-specific ideal time
    lines:
      - id: line-1
        machines:
          - {id: cnc-01, ideal_cycle_time: 30s}   # used when no product is known
          - {id: cnc-02, ideal_cycle_time: 30s}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(RegistryError) as info:
        parse_registry(text, "t.yaml")
    return info.value.errors


def replaced(old: str, new: str, text: str = PRODUCTS_YAML) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_issue_example_imports_with_its_products_in_order():
    (f,) = parse_registry(PRODUCTS_YAML)
    assert f.products == (
        Product("A-100", 20.0, "브래킷"),
        Product("B-200", 45.0, "하우징", {"cnc-02": 40.0}),
    )
    cnc1, cnc2 = f.machines
    assert f.ideal_cycle_time(cnc2, "B-200") == (40.0, True)
    assert f.ideal_cycle_time(cnc1, "B-200") == (45.0, True)
    assert f.ideal_cycle_time(cnc1, "Z-999") == (30.0, False)
    assert f.ideal_cycle_time(cnc1, None) == (30.0, False)


def test_products_are_optional():
    head, rest = PRODUCTS_YAML.split("    products:\n")
    (f,) = parse_registry(head + rest[rest.index("    lines:") :])
    assert f.products == ()


def test_an_override_may_name_a_machine_of_another_line():
    text = replaced(
        "          - {id: cnc-02, ideal_cycle_time: 30s}\n",
        "      - id: line-2\n        machines:\n          - {id: cnc-02, ideal_cycle_time: 30s}\n",
    )
    (f,) = parse_registry(text)
    assert f.products[1].machine_times == {"cnc-02": 40.0}


#: the issue's example exactly as written: its override names cnc-02, which the line
#: does not list (yet)
AS_WRITTEN = PRODUCTS_YAML.replace("          - {id: cnc-02, ideal_cycle_time: 30s}\n", "")


def test_the_issue_example_imports_as_written_and_the_unlisted_machine_is_noted(tmp_path):
    from assessor.registry.importer import import_command, unlisted_machines

    (f,) = parse_registry(AS_WRITTEN)
    assert f.products[1].machine_times == {"cnc-02": 40.0}
    assert unlisted_machines(f) == [("B-200", "cnc-02")]
    path = tmp_path / "r.yaml"
    path.write_text(AS_WRITTEN, encoding="utf-8")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert import_command(path, tmp_path / "r.sqlite") == 0
    assert "product 'B-200' has an ideal time for machine 'cnc-02'" in out.getvalue()


def test_a_machine_may_give_its_own_time_for_a_product():
    text = replaced(
        "          - {id: cnc-01, ideal_cycle_time: 30s}   # used when no product is known\n",
        "          - {id: cnc-01, ideal_cycle_time: 30s, products: {A-100: 18s}}\n",
    )
    (f,) = parse_registry(text)
    cnc1 = f.machines[0]
    assert f.ideal_cycle_time(cnc1, "A-100") == (18.0, True)
    assert f.products[0].machine_times == {"cnc-01": 18.0}


BAD = [
    pytest.param(
        ("{id: cnc-01, ideal_cycle_time: 30s}", "{id: cnc-01, ideal_cycle_time: 30s, products: {A-10: 18s}}"),
        "factories[0].lines[0].machines[0].products.A-10: unknown product 'A-10' for machine 'cnc-01'; "
        "did you mean 'A-100'? (line 11)",
        id="unknown-product-in-machine-override",
    ),
    pytest.param(
        ("{id: cnc-01, ideal_cycle_time: 30s}", "{id: cnc-01, ideal_cycle_time: 30s, products: {Z: 1s}}"),
        "factories[0].lines[0].machines[0].products.Z: unknown product 'Z' for machine 'cnc-01'; "
        "the factory's products are A-100, B-200 (line 11)",
        id="unknown-product-no-close-match",
    ),
    pytest.param(
        ("- {id: B-200,", "- {id: A-100,"),
        "factories[0].products[1].id: duplicate product id 'A-100' "
        "(already at factories[0].products[0].id) (line 6)",
        id="duplicate-product",
    ),
    pytest.param(
        ("ideal_cycle_time: 20s}", "ideal_cycle_time: soon}"),
        "factories[0].products[0].ideal_cycle_time: expected a duration such as '1s' or '500ms', "
        "got 'soon' (line 5)",
        id="bad-duration",
    ),
    pytest.param(
        ("ideal_cycle_time: 20s}", "ideal_cycle_time: 0s}"),
        "factories[0].products[0].ideal_cycle_time: must be greater than zero, got '0s' (line 5)",
        id="zero-duration",
    ),
    pytest.param(
        ("{cnc-02: 40s}", "{cnc-02: -40s}"),
        "factories[0].products[1].machines.cnc-02: expected a duration such as '1s' or '500ms', "
        "got '-40s' (line 7)",
        id="negative-override",
    ),
    pytest.param(
        ("{cnc-02: 40s}", "{cnc-02: 0}"),
        "factories[0].products[1].machines.cnc-02: must be greater than zero, got 0 (line 7)",
        id="zero-override",
    ),
    pytest.param(
        ("{cnc-02: 40s}", "{7: 40s}"),
        "factories[0].products[1].machines.7: expected an id as text, got 7; put it in quotes (line 7)",
        id="number-key",
    ),
    pytest.param(
        ("- {id: A-100,", "- {id: 100,"),
        "factories[0].products[0].id: expected an id as text, got 100; put it in quotes (line 5)",
        id="number-id",
    ),
    pytest.param(
        ("- {id: A-100,", '- {id: "A\\\\100",'),
        "factories[0].products[0].id: id must not contain a backslash",
        id="backslash-id",
    ),
    pytest.param(
        ("ideal_cycle_time: 45s,", "ideal_cycletime: 45s,"),
        "factories[0].products[1].ideal_cycletime: unknown key; did you mean 'ideal_cycle_time'? (line 6)",
        id="typo-key",
    ),
    pytest.param(
        ("ideal_cycle_time: 45s,", ""),
        "factories[0].products[1].ideal_cycle_time: required key is missing (line 6)",
        id="missing-ideal-time",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), BAD)
def test_bad_products_name_key_path_and_line(edit: tuple[str, str], expected: str):
    errors = errors_of(replaced(*edit))
    assert any(e.startswith(expected) for e in errors), errors


def test_machine_side_overrides_are_checked_per_factory():
    other = (
        "  - id: other\n    name: 다른공장\n    products:\n      - {id: Q-1, ideal_cycle_time: 9s}\n"
        "    lines:\n      - id: l\n        machines:\n"
        "          - {id: cnc-09, ideal_cycle_time: 9s}\n"
    )
    text = replaced(
        "{id: cnc-01, ideal_cycle_time: 30s}",
        "{id: cnc-01, ideal_cycle_time: 30s, products: {Q-1: 5s}}",
        PRODUCTS_YAML + other,
    )
    errors = errors_of(text)
    assert [e.split(":")[0] for e in errors] == ["factories[0].lines[0].machines[0].products.Q-1"], errors
