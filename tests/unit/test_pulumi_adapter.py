"""The Pulumi adapter: the passphrase file, finding or installing the CLI, the engine's errors."""
import stat

import pytest

from kindreg.adapters import pulumi as adapter


def test_a_passphrase_is_created_once_mode_0600_and_reused(tmp_path):
    env = {"HOME": str(tmp_path)}
    extra, note = adapter.passphrase(env)
    path = tmp_path / ".config" / "kindreg" / "passphrase"
    assert extra == {"PULUMI_CONFIG_PASSPHRASE_FILE": str(path)}
    assert str(path) in note and "0600" in note
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text()
    assert len(secret.strip()) >= 40
    assert secret not in note
    assert adapter.passphrase(env) == (extra, None)  # the same file, no new note
    assert path.read_text() == secret


def test_kindregs_started_at_once_share_one_whole_passphrase(tmp_path):
    """Eight processes race to create it: one does (one note), all use the same whole file."""
    import multiprocessing
    env = {"HOME": str(tmp_path)}
    with multiprocessing.get_context("fork").Pool(8) as pool:
        results = pool.map(adapter.passphrase, [env] * 8)
    path = tmp_path / ".config" / "kindreg" / "passphrase"
    assert {extra["PULUMI_CONFIG_PASSPHRASE_FILE"] for extra, _ in results} == {str(path)}
    assert sum(note is not None for _, note in results) == 1
    assert len(path.read_text().strip()) >= 40
    assert [p.name for p in path.parent.iterdir()] == ["passphrase"]  # nothing left aside


def test_a_passphrase_made_meanwhile_is_kept(tmp_path, monkeypatch):
    """Between the look and the create another kindreg made it: it is kept as it is."""
    path = tmp_path / ".config" / "kindreg" / "passphrase"
    real_exists = type(path).exists
    def exists(self):
        if self == path and not real_exists(self):
            self.parent.mkdir(parents=True)
            self.write_text("theirs\n")
            return False
        return real_exists(self)
    monkeypatch.setattr(type(path), "exists", exists)
    assert adapter.passphrase({"HOME": str(tmp_path)}) == ({"PULUMI_CONFIG_PASSPHRASE_FILE": str(path)}, None)
    assert path.read_text() == "theirs\n"


@pytest.mark.parametrize("env", [{"PULUMI_CONFIG_PASSPHRASE": ""}, {"PULUMI_CONFIG_PASSPHRASE_FILE": "/x"}])
def test_the_users_passphrase_wins(tmp_path, env):
    assert adapter.passphrase({"HOME": str(tmp_path), **env}) == ({}, None)
    assert not (tmp_path / ".config").exists()


def test_xdg_config_home_is_honoured(tmp_path):
    extra, _ = adapter.passphrase({"HOME": "/nonexistent", "XDG_CONFIG_HOME": str(tmp_path)})
    assert extra["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(tmp_path / "kindreg" / "passphrase")


def test_the_cli_on_path_is_used_as_is(tmp_path):
    assert adapter.installed({"HOME": str(tmp_path)}, which=lambda t: "/opt/bin/pulumi") == "/opt/bin/pulumi"
    assert adapter.installed({"HOME": str(tmp_path)}, which=lambda t: None) is None


def test_a_cli_that_cannot_be_installed_says_what_to_do(tmp_path, monkeypatch):
    from pulumi import automation as auto

    def refuse(**kw):
        raise OSError("Temporary failure in name resolution")
    monkeypatch.setattr(auto.PulumiCommand, "install", staticmethod(refuse))
    with pytest.raises(adapter.PulumiUnavailable) as err:
        adapter.command({"HOME": str(tmp_path)}, which=lambda t: None)
    text = str(err.value)
    assert "not on PATH and could not be installed (Temporary failure in name resolution)" in text
    assert f"install Pulumi v{adapter.sdk_version()}" in text


def test_the_engine_error_is_the_engines_own_lines():
    wrapped = ("\n code: 255\n stdout: Updating...\n\n stderr: warning: using pulumi-language-python from $PATH\n"
               "error: update failed\nerror: docker: Pool overlaps\n")
    assert adapter._engine_error(Exception(wrapped)) == "error: update failed\nerror: docker: Pool overlaps"


def test_the_backend_is_the_env_then_pulumi_yaml(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime: python\nbackend:\n  url: file://~/.pulumi-kindreg\n")
    assert adapter.backend_url(tmp_path, {}) == "file://~/.pulumi-kindreg"
    assert adapter.backend_url(tmp_path, {"PULUMI_BACKEND_URL": "s3://b"}) == "s3://b"
    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime: python\n")
    assert adapter.backend_url(tmp_path, {}) is None


def test_tilde_is_the_accounts_home_as_the_cli_resolves_it():
    import os
    import pwd
    home = pwd.getpwuid(os.getuid()).pw_dir
    assert adapter.file_backend_dir("file://~/.pulumi-kindreg") == adapter.Path(home) / ".pulumi-kindreg"
    assert adapter.file_backend_dir("file:///srv/state") == adapter.Path("/srv/state")
    assert adapter.file_backend_dir("https://api.pulumi.com") is None


def test_a_missing_file_backend_directory_is_created_once(tmp_path):
    state = tmp_path / "a" / "state"
    env = {"PULUMI_BACKEND_URL": f"file://{state}"}
    assert str(state) in adapter.ensure_backend(tmp_path, env)
    assert state.is_dir()
    assert adapter.ensure_backend(tmp_path, env) is None
