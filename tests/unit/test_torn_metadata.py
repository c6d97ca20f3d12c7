"""A kill while the file backend writes a checkpoint's metadata (`<stack>.json.attrs`, written in
place by gocloud.dev's fileblob) leaves it empty, and every later command fails with `failed to
load checkpoint: EOF`; the next kindreg removes it, saying so (seen under the real engine in
tests/engine/test_interrupted.py's killed `down`)."""
import json

import pytest

from kindreg.adapters.pulumi import StateFiles
from kindreg.ops import recover


@pytest.fixture
def state(tmp_path):
    stacks = tmp_path / ".pulumi" / "stacks" / "kindreg"
    stacks.mkdir(parents=True)
    (stacks / "dev.json").write_text(json.dumps({"checkpoint": {"latest": {}}}))
    (stacks / "dev.json.bak").write_text(json.dumps({"checkpoint": {"latest": {}}}))
    return StateFiles(tmp_path, "kindreg"), stacks


@pytest.mark.parametrize("text", ["", '{"user.content_type": "applic'])
def test_an_empty_or_partial_metadata_file_is_torn_and_removed(state, text, capsys):
    files, stacks = state
    (stacks / "dev.json.attrs").write_text(text)
    (stacks / "dev.json.bak.attrs").write_text('{"user.content_type": "application/octet-stream"}\n')
    torn = files.torn_metadata("dev")
    assert torn == [stacks / "dev.json.attrs"]
    recover.remove_torn_metadata("dev", torn, print)
    assert not (stacks / "dev.json.attrs").exists() and (stacks / "dev.json.bak.attrs").exists()
    assert (stacks / "dev.json").exists()
    assert "the metadata of stack dev's state that a killed run left torn" in capsys.readouterr().out


def test_whole_metadata_and_other_stacks_are_left_alone(state):
    files, stacks = state
    (stacks / "dev.json.attrs").write_text('{"user.content_type": "application/octet-stream"}\n')
    (stacks / "qa.json.attrs").write_text("")
    assert files.torn_metadata("dev") == []
