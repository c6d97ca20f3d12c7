"""The team tier in the pure core: its config checks, its plan, what it renders, its htpasswd
and what a failed storage check says."""
import tomllib

import pytest
import yaml

from kindreg.adapters.files import read_text
from kindreg.core import credentials, frontcache, htpasswd, load, render, storage
from kindreg.core.errors import ConfigError
from kindreg.core.plan import S3Plan
from tests.helpers import plan_of

DOCKER = {"name": "io-docker", "url": "https://registry-1.docker.io"}


def problems(shared: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load.config_map({"kindreg:shared": shared}, "team", "stack team", None, None)
    return [f"{p.path}: {p.message}" for p in err.value.problems]


def test_the_team_stack_stores_on_s3_with_no_key_in_its_config():
    team = plan_of("team").mirrors[0]
    doc = yaml.safe_load(render.registry_config(team))
    assert doc["storage"]["s3"] == {"bucket": "team-mirror-cache", "region": "eu-west-1",
                                    "rootdirectory": "/kindreg/io-docker", "secure": True, "v4auth": True,
                                    "forcepathstyle": True, "regionendpoint": "https://s3.example.com"}
    assert "filesystem" not in doc["storage"] and doc["storage"]["redirect"] == {"disable": True}
    assert doc["auth"] == {"htpasswd": {"realm": "kindreg", "path": render.HTPASSWD_PATH}}
    assert doc["health"]["storagedriver"]["interval"] == f"{storage.HEALTH_INTERVAL_SECONDS}s"
    # Each mirror under its own prefix of the one bucket.
    assert len({m.s3.root_directory for m in plan_of("team").mirrors}) == 4
    assert {"REGISTRY_STORAGE_S3_ACCESSKEY", "REGISTRY_STORAGE_S3_SECRETKEY"} <= set(render.CREDENTIAL_ENV)


def test_the_team_publishes_where_it_says_and_its_certificate_names_it():
    plan = plan_of("team")
    assert [(m.publish, m.publish_address, m.host_port) for m in plan.mirrors] == [
        (True, "0.0.0.0", 5001), (True, "0.0.0.0", 5002), (True, "0.0.0.0", 5003), (True, "0.0.0.0", 5004)]
    assert "team-mirror.example.com" in plan.san and "0.0.0.0" not in plan.san


def test_a_chained_mirror_fills_from_its_via_registry_and_nodes_fall_back_to_the_upstream():
    laptop = plan_of("laptop")
    chained, plain = laptop.mirrors[0], laptop.mirrors[2]
    assert render.container_env(chained) == [
        "KINDREG_UPSTREAM=https://team-mirror.example.com:5001", "KINDREG_MIRROR=io-docker",
        f"{render.PROBE_ENV}=http://laptop-registry-io-docker-front:8080"]
    conf = frontcache.nginx_conf(chained)
    assert "set $upstream https://team-mirror.example.com:5001;" in conf
    assert f"proxy_ssl_trusted_certificate {frontcache.VIA_CA_PATH};" in conf
    assert f"proxy_ssl_trusted_certificate {frontcache.CA_BUNDLE};" in frontcache.nginx_conf(plain)
    assert render.PROBE_ENV not in " ".join(render.container_env(plain))
    hosts = tomllib.loads(render.hosts_toml(chained, "laptop", by_ip=False))
    assert hosts["server"] == "https://registry-1.docker.io"  # never the team: it may be down


def test_the_entrypoint_counts_a_front_gateway_error_as_away_only_when_probing_through_the_front():
    script = render.MIRROR_ENTRYPOINT
    assert f'"${{{render.PROBE_ENV}:-$UPSTREAM}}/v2/"' in script
    assert '*" 502 "*|*" 503 "*|*" 504 "*) return 1' in script


@pytest.mark.parametrize("shared,expected", [
    ({"mirrors": [{**DOCKER, "hostPort": 5001}]},
     "kindreg:shared.mirrors[0].hostPort: is a port on the host, but the mirrors are not published"),
    ({"publishMirrors": True, "mirrors": [{**DOCKER, "hostPort": 5001}, {"name": "io-quay", "url": "https://quay.io",
                                                                        "hostPort": 5001}]},
     "kindreg:shared.mirrors[1].hostPort: is also the port of kindreg:shared.mirrors[0]"),
    ({"auth": {"users": ["ci"]}}, "kindreg:shared.auth: would send the users' passwords in the clear"),
    ({"auth": {"users": ["c:i"]}, "tls": True}, 'has "c:i", not a user name'),
    ({"auth": {"users": ["ci", "ci"]}, "tls": True}, "names a user twice"),
    ({"storage": {"s3": {"bucket": "b"}}}, "kindreg:shared.storage.s3.bucket: is not an S3 bucket name"),
    ({"storage": {"s3": {"bucket": "team", "endpoint": "http://s3:9000", "pathStyle": False}}},
     "distribution#4528"),
    ({"storage": {"s3": {"bucket": "team"}}, "mirrors": {"maxSize": "10GiB"}},
     "kindreg:shared.mirrors.maxSize: bounds the mirrors' disk, but storage.s3 keeps what they fetch in the bucket"),
    ({"viaCa": "ca.pem"}, "kindreg:shared.viaCa: is the CA of the mirrors' `via` registries, but no mirror has `via`"),
    ({"mirrors": [{**DOCKER, "via": "https://10.0.0.5:5001"}]}, "must be reached by a host name"),
    ({"frontCache": {"enabled": False}, "mirrors": [{**DOCKER, "via": "https://team.example.com"}]},
     "kindreg:shared.mirrors[0].via: needs the front cache"),
    ({"publishNames": ["team.example.com"]}, "kindreg:shared.publishNames: names the published mirrors, but"),
    ({"publishAddress": "everywhere"}, "kindreg:shared.publishAddress: is not an IPv4 address"),
])
def test_bad_team_config_is_named_with_the_fix(shared, expected):
    found = problems(shared)
    assert any(expected in p for p in found), found


def test_every_problem_of_a_team_config_at_once():
    found = problems({"auth": {"users": ["ci"]}, "viaCa": "ca.pem", "storage": {"s3": {"bucket": "b"}}})
    assert len(found) == 3, found


def test_s3_keys_and_passwords_come_from_secret_config_only():
    with pytest.raises(ConfigError) as err:
        credentials.s3_keys(None, where="stack team")
    assert "kindreg:s3Credentials: is missing" in err.value.render()
    with pytest.raises(ConfigError) as err:
        credentials.s3_keys({"accessKey": "AK", "secret": "x"}, where="stack team")
    assert {p.path for p in err.value.problems} == {"kindreg:s3Credentials.secretKey", "kindreg:s3Credentials.secret"}
    assert "x" not in [p.value for p in err.value.problems]
    with pytest.raises(ConfigError) as err:
        credentials.auth_passwords({"bob": "pw"}, ["ci"], where="stack team")
    assert {p.path for p in err.value.problems} == {"kindreg:authPasswords.ci", "kindreg:authPasswords.bob"}
    assert "pw" not in err.value.render()


def test_plaintext_team_secrets_in_a_stack_file_are_refused(tmp_path):
    (tmp_path / "Pulumi.team.yaml").write_text(yaml.safe_dump({"config": {
        "kindreg:shared": {"storage": {"s3": {"bucket": "team"}}},
        "kindreg:s3Credentials": {"accessKey": "AKIA", "secretKey": {"secure": "v1:abc"}},
        "kindreg:authPasswords": {"ci": "plain-pw"}}}))
    with pytest.raises(ConfigError) as err:
        load.stack(tmp_path, "team", read_text)
    text = err.value.render()
    assert "kindreg:s3Credentials.accessKey: is in plain text" in text and "secretKey" not in text
    assert "kindreg:authPasswords.ci: is in plain text" in text and "plain-pw" not in text


def test_htpasswd_is_bcrypt_the_same_every_run_and_lets_in_only_the_right_password():
    text = htpasswd.render({"ci": "pw-one", "alice": "pw-two"})
    assert text == htpasswd.render({"ci": "pw-one", "alice": "pw-two"})  # no diff on the next up
    assert [line.split(":")[0] for line in text.splitlines()] == ["ci", "alice"]
    assert all(line.split(":", 1)[1].startswith("$2b$10$") for line in text.splitlines())
    assert htpasswd.matches(text, "ci", "pw-one") and not htpasswd.matches(text, "ci", "pw-two")
    assert not htpasswd.matches(text, "bob", "pw-one")
    assert "pw-one" not in text and htpasswd.render({"ci": "pw-other"}) != htpasswd.render({"ci": "pw-one"})


S3 = S3Plan(bucket="team", region="us-east-1", endpoint="http://10.0.0.9:8333", force_path_style=True,
            root_directory="kindreg/io-docker")
LINE = ('time="2026-12-08T00:23:14Z" level=error msg="storage driver health check: s3aws: {what}" '
        'container=team-registry-io-docker')


@pytest.mark.parametrize("what,said", [
    ('SignatureDoesNotMatch: The request signature we calculated does not match\\nstatus code: 403',
     "bucket team at http://10.0.0.9:8333 refuses the keys (s3aws: SignatureDoesNotMatch"),
    ('RequestError: send request failed\\ncaused by: Get \\"http://10.0.0.9:8333/team\\": dial tcp '
     '10.0.0.9:8333: connect: connection refused', "bucket team at http://10.0.0.9:8333 does not answer"),
    ("NoSuchBucket: The specified bucket does not exist", "bucket team at http://10.0.0.9:8333 does not exist"),
    ("InternalError: something else", "bucket team at http://10.0.0.9:8333 fails the registry's storage check"),
])
def test_a_failed_storage_check_says_what_is_wrong_naming_the_bucket(what, said):
    error = storage.failure(["a line", LINE.format(what=what), "another"])
    text, fix = storage.explain(S3, error, "kindreg:s3Credentials")
    assert text.startswith(said), text
    assert fix


def test_the_last_failure_is_the_one_told_and_none_when_the_log_has_none():
    lines = [LINE.format(what="AccessDenied: first"), LINE.format(what="NoSuchBucket: second")]
    assert storage.failure(lines) == "s3aws: NoSuchBucket: second"
    assert storage.failure(["nothing here"]) is None
    assert "no error logged" in storage.explain(S3, None, "k")[0]


def test_the_cache_commands_leave_an_s3_stack_alone_and_say_why():
    import subprocess
    import sys
    from tests.helpers import PROJECT, ROOT
    out = subprocess.run([sys.executable, "-m", "kindreg", "cache", "prune", "--project-dir", str(PROJECT),
                          "--stack", "team", "--dry-run"], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT)})
    assert out.returncode == 2, out
    assert "the mirrors store on s3://team-mirror-cache (storage.s3)" in out.stderr
