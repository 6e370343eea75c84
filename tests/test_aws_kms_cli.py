"""The key checks where no in-process mock answers: no credentials, an AWS that does not answer, and the CLI
(`python -m scripts.verify keys`) against moto's server on loopback, once as a process of its own."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from components.model.trust import TrustModel
from tests.conftest import ROOT
from tests.moto_kms import digest_signing
from tests.test_aws_kms_checks import REGION, isolate, model_with, other_pem, outcome, public_pem


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Test credentials and nothing else of the machine's AWS setup, for one test."""
    isolate(monkeypatch, tmp_path)


def test_no_credentials_is_a_skip_with_the_reason(aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing is sent without credentials anyway
    status, observed = outcome(model_with(f"arn:aws:kms:{REGION}:123456789012:key/{uuid.uuid4()}"))
    assert status == "skip"
    assert observed.startswith("AWS KMS not readable from here: no AWS credentials here")


def test_kms_not_answering_is_a_skip_with_the_reason(aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    status, observed = outcome(model_with(f"arn:aws:kms:{REGION}:123456789012:key/{uuid.uuid4()}"))
    assert status == "skip"
    assert "AWS KMS did not answer" in observed


# --- the CLI, against moto's server on loopback ------------------------------------------------------------


@pytest.fixture
def moto_server(aws_environment: None) -> Iterator[str]:
    """moto's server on a free loopback port (DIGEST signing as AWS does); yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    with digest_signing():
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


def _cli(tmp_path: Path, endpoint: str, model: TrustModel, *args: str) -> subprocess.CompletedProcess[str]:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps({"environment": "dev", "registryLoginServer": "cr.example", "trustModel": model.to_json()})
    )
    environment = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "scripts.verify", "keys", "--outputs", str(outputs), "--evidence", str(tmp_path), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
        check=False,
    )


def _in_process(
    tmp_path: Path,
    endpoint: str,
    model: TrustModel,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, str, str]:
    """The same command in this interpreter (the endpoint is still reached over HTTP): exit code, stdout, stderr."""
    from scripts.verify import main

    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps({"environment": "dev", "registryLoginServer": "cr.example", "trustModel": model.to_json()})
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    code = main(["keys", "--outputs", str(outputs), "--evidence", str(tmp_path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_keys_command_reads_the_key_through_the_endpoint_and_passes(tmp_path: Path, moto_server: str) -> None:
    client = boto3.client("kms", region_name=REGION, endpoint_url=moto_server)
    arn = client.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    run = _cli(tmp_path, moto_server, model_with(arn, public_pem(client, arn)))
    assert run.returncode == 0, run.stderr
    assert "pass: AWS KMS key build-farm signs as the stack trusts it: same key (ECC_NIST_P256)" in run.stdout
    evidence = json.loads((tmp_path / "evidence.json").read_text())
    assert [c["id"] for c in evidence["checks"] if c["id"].startswith("keys/")] == ["keys/build-farm/aws-kms"]


def test_the_keys_command_fails_a_mismatch_and_a_disabled_key_in_one_line_each(
    tmp_path: Path, moto_server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("kms", region_name=REGION, endpoint_url=moto_server)
    arn = client.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    code, out, err = _in_process(tmp_path, moto_server, model_with(arn, other_pem()), capsys, monkeypatch)
    assert code == 1
    assert "fail: AWS KMS key build-farm signs as the stack trusts it: KMS holds a different key" in out
    client.disable_key(KeyId=arn.rsplit("/", 1)[1])
    code, out, err_disabled = _in_process(tmp_path, moto_server, model_with(arn), capsys, monkeypatch)
    assert code == 1
    assert "fail: AWS KMS key build-farm signs as the stack trusts it: the key is Disabled" in out
    assert "Traceback" not in err + err_disabled


def test_the_keys_command_skips_with_the_reason_when_kms_does_not_answer(
    tmp_path: Path, aws_environment: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        silent = f"http://127.0.0.1:{probe.getsockname()[1]}"
    model = model_with(f"arn:aws:kms:{REGION}:123456789012:key/{uuid.uuid4()}")
    code, out, err = _in_process(tmp_path, silent, model, capsys, monkeypatch)
    assert code == 0, err
    assert "skip: AWS KMS key build-farm signs as the stack trusts it: AWS KMS not readable from here" in out
    assert "Traceback" not in err
