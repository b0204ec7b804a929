"""Suite options: drop mix parsing, defaults without Locust's parser, topic lists."""

from __future__ import annotations

import argparse

import pytest

from wsharness.contract.protocol import WS_PATH
from wsharness.loadclient.options import LoadOptions, parse_drop_mix


def test_drop_mix_weights_and_bare_kinds() -> None:
    weights = parse_drop_mix("abort=2, rst=0.5,stall")
    assert weights == {"abort": 2.0, "rst": 0.5, "stall": 1.0}


@pytest.mark.parametrize("text", ["teleport=1", "abort=0,rst=0", ""])
def test_unknown_or_all_zero_drop_mixes_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_drop_mix(text)


def test_defaults_apply_without_parsed_options_and_values_override_them() -> None:
    assert LoadOptions.from_parsed(None).ws_path == WS_PATH
    parsed = argparse.Namespace(topics=" a, b ,,c", echo_rate=3.0, jwt_secret=None)
    options = LoadOptions.from_parsed(parsed)
    assert options.topic_list == ["a", "b", "c"]
    assert options.echo_rate == 3.0
    assert options.jwt_secret is None
