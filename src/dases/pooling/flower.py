"""FedAvg across provider processes with Flower: the dropout model learnt without moving rows.

`dases.pooling.federated` defines the algorithm and the provider's boundary (`Provider`); this
module puts each provider in a process of its own, holding only its own rows, and has a Flower
server coordinate them over gRPC. Flower is the optional extra `federated`, installed in an
environment of its own (`./dev setup-federated`), because it pins an older web stack than the node.

What protects the run, since every cross-node call must be authenticated and authorised:

- **TLS.** The coordinator serves gRPC over TLS only; providers pin the coordinator's CA.
- **Providers prove who they are before anything is sent to them.** Flower's legacy transport
  has no client authentication, so the coordinator challenges every connected client with a
  fresh nonce; the client answers with a compact JWS (Ed25519) over its name, the nonce and the
  coordinator's id, and the coordinator checks it against the public key it trusts for that name.
  One failed, unknown or duplicated proof, or a trusted provider that never connects, and the
  run stops before the first weight or category is sent: it fails closed and names the reason.
- **Only aggregates cross.** A provider sends its categories and per-column count / sum / sum of
  squares once (to agree on one encoding), then per round its new weights, row count and mean
  loss; for evaluation, a histogram of its scores per class (10,000 bins), from which the
  coordinator computes the pooled ROC AUC. No row, score or label list leaves a provider.

The arithmetic is `federated.fedavg`'s: the same encoding, local steps and row-weighted mean, so
the Flower run and the in-process one reach the same weights (the tests check it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dases.errors import InvalidInput
from dases.identity import jws
from dases.identity.keys import Signer, generate_key, key_id, public_jwk
from dases.pooling.federated import ColumnStats, Encoding, Provider, merge_encoding

try:  # the optional extra `federated`
    import flwr
    from flwr.common import (
        EvaluateIns,
        FitIns,
        GetPropertiesIns,
        Parameters,
        ndarrays_to_parameters,
        parameters_to_ndarrays,
    )
    from flwr.server.client_manager import ClientManager
    from flwr.server.client_proxy import ClientProxy
    from flwr.server.strategy import FedAvg
except ImportError:  # pragma: no cover - exercised where the extra is absent
    flwr = None

#: Score histogram resolution for the pooled ROC AUC: ties within a bin count half, so the AUC
#: is within about 1e-4 of the exact one on the OULAD test year.
HISTOGRAM_BINS = 10_000
#: How old a provider's proof may be, and how long the coordinator waits for providers.
PROOF_MAX_AGE_S = 120
CONNECT_TIMEOUT_S = 120
CALL_TIMEOUT_S = 300


class FederationError(RuntimeError):
    """The federated run stopped; the message says which provider or step failed."""


def require_flower() -> None:
    if flwr is None:
        raise InvalidInput(
            "Flower is not installed in this environment: run `./dev setup-federated`, then "
            "`.venv-federated/bin/dases study federated --engine flower` (or `./dev federated`)"
        )


# --- keys, certificates and proofs ---------------------------------------------------------------


def write_private(path: Path, data: bytes) -> None:
    """Write a secret readable by its owner only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def make_tls(directory: Path, host: str = "127.0.0.1") -> dict[str, Path]:
    """A CA and a server certificate for `host`, signed by it (P-256, valid one day): enough for
    a run between processes that exchanged the CA out of band (here: the same machine)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DASES federated run CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    server_key = ec.generate_private_key(ec.SECP256R1())
    try:
        alt_names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(host))]
    except ValueError:
        alt_names = [x509.DNSName(host)]
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])).issuer_name(ca_name)
        .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = {"ca": directory / "ca.pem", "certificate": directory / "server.pem", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["certificate"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    write_private(paths["key"], server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))  # fmt: skip
    return paths


def signer_from_file(path: Path, name: str) -> Signer:
    from joserfc.jwk import OKPKey

    key = OKPKey.import_key(json.loads(Path(path).read_text()))
    return Signer(did=name, kid=key_id(key), key=key)


def prove(signer: Signer, name: str, nonce: str, audience: str) -> str:
    """The provider's answer to the coordinator's challenge."""
    payload = {"iss": name, "aud": audience, "nonce": nonce, "iat": int(time.time())}
    return jws.sign({"typ": "dases-federated-proof"}, payload, signer)


def check_proof(token: str, trusted: Mapping[str, dict[str, Any]], nonce: str, audience: str) -> str:
    """The provider name a valid proof establishes; `FederationError` with the reason otherwise."""
    try:
        parsed = jws.parse(str(token))
    except jws.MalformedJws as error:
        raise FederationError(f"a client's proof is malformed: {error}") from None
    name = parsed.payload.get("iss")
    if not isinstance(name, str) or name not in trusted:
        raise FederationError(f"a client claims to be {name!r}, which is not a trusted provider of this run")
    if not jws.signature_is_valid(parsed, trusted[name]):
        raise FederationError(f"provider {name!r}: the proof is not signed by its trusted key")
    if parsed.payload.get("nonce") != nonce or parsed.payload.get("aud") != audience:
        raise FederationError(f"provider {name!r}: the proof answers another challenge (nonce or audience differ)")
    issued = parsed.payload.get("iat")
    if not isinstance(issued, int) or abs(time.time() - issued) > PROOF_MAX_AGE_S:
        raise FederationError(f"provider {name!r}: the proof is stale or undated")
    return name


# --- the provider's side ---------------------------------------------------------------------------


def _encoding_to_json(encoding: Encoding) -> str:
    # key order is the design matrix's column order: kept as agreed, never sorted
    return json.dumps({"categorical": encoding.categorical, "numeric": encoding.numeric})


def _encoding_from_json(text: str) -> Encoding:
    value = json.loads(text)
    return Encoding(
        {column: tuple(values) for column, values in value["categorical"].items()},
        {column: (float(mean), float(deviation)) for column, (mean, deviation) in value["numeric"].items()},
    )


def score_histograms(scores: np.ndarray, labels: np.ndarray, bins: int = HISTOGRAM_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Counts of positives and of negatives per score bin on [0, 1]."""
    index = np.minimum((np.asarray(scores) * bins).astype(np.int64), bins - 1)
    labels = np.asarray(labels).astype(bool)
    return np.bincount(index[labels], minlength=bins), np.bincount(index[~labels], minlength=bins)


def histogram_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """ROC AUC from per-bin class counts (a tie within a bin counts half)."""
    positives, negatives = np.asarray(positives, dtype=np.float64), np.asarray(negatives, dtype=np.float64)
    if positives.sum() == 0 or negatives.sum() == 0:
        raise FederationError("the test rows hold a single class: ROC AUC is undefined")
    below = np.cumsum(negatives) - negatives
    return float((positives * (below + 0.5 * negatives)).sum() / (positives.sum() * negatives.sum()))


if flwr is not None:

    class ProviderClient(flwr.client.NumPyClient):
        """A provider's Flower client: its own rows stay here, only aggregates are answered."""

        def __init__(self, name: str, signer: Signer, train: Provider | None, test: Provider | None) -> None:
            self.name = name
            self._signer = signer
            self._train = train
            self._test = test
            self._encodings: dict[str, Encoding] = {}

        def _encoding(self, config: Mapping[str, Any]) -> Encoding:
            text = str(config["encoding"])
            if text not in self._encodings:
                self._encodings = {text: _encoding_from_json(text)}
            return self._encodings[text]

        def get_properties(self, config: Mapping[str, Any]) -> dict[str, Any]:
            ask = config.get("ask")
            if ask == "proof":
                return {"proof": prove(self._signer, self.name, str(config["nonce"]), str(config["audience"]))}
            if ask == "schema":
                if self._train is None:
                    return {"schema": json.dumps({"categories": {}, "stats": {}})}
                categories = {column: sorted(values) for column, values in self._train.categories().items()}
                stats = {column: [s.count, s.total, s.squares] for column, s in self._train.column_stats().items()}
                return {"schema": json.dumps({"categories": categories, "stats": stats})}
            raise ValueError(f"unknown property request {ask!r}")

        def get_parameters(self, config: Mapping[str, Any]) -> list[np.ndarray]:
            raise ValueError("the coordinator sets the initial weights; a provider does not propose any")

        def fit(self, parameters: list[np.ndarray], config: Mapping[str, Any]) -> tuple[list[np.ndarray], int, dict[str, Any]]:
            weights = parameters[0]
            if self._train is None:  # no rows to learn from: a zero-weight answer
                return [weights], 0, {"loss": 0.0}
            update = self._train.fit(
                weights, self._encoding(config), epochs=int(config["epochs"]),
                learning_rate=float(config["learning_rate"]), l2=float(config["l2"]),
            )  # fmt: skip
            return [update.weights], update.rows, {"loss": update.loss}

        def evaluate(self, parameters: list[np.ndarray], config: Mapping[str, Any]) -> tuple[float, int, dict[str, Any]]:
            if self._test is None:
                return 0.0, 0, {}
            scores, labels = self._test.scores(parameters[0], self._encoding(config), self._test.frame)
            positives, negatives = score_histograms(scores, labels)
            clipped = np.clip(scores, 1e-12, 1 - 1e-12)
            loss = float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped)))
            return loss, len(labels), {
                "positives": positives.astype("<i8").tobytes(), "negatives": negatives.astype("<i8").tobytes(),
            }  # fmt: skip

    class AuthenticatedFedAvg(FedAvg):
        """FedAvg that only talks to providers that proved who they are, and stops otherwise."""

        def __init__(self, trusted: Mapping[str, dict[str, Any]], audience: str, *, rounds: int, epochs: int, learning_rate: float, l2: float) -> None:
            super().__init__(accept_failures=False, fraction_fit=1.0, fraction_evaluate=1.0)
            self.trusted = dict(trusted)
            self.audience = audience
            self.rounds = rounds
            self.config = {"epochs": epochs, "learning_rate": learning_rate, "l2": l2}
            self.members: dict[str, ClientProxy] = {}
            self.encoding: Encoding | None = None
            self.losses: list[float] = []
            self.rows: dict[str, int] = {}
            self.auc: float | None = None
            self.test_rows = 0
            self.final_weights: np.ndarray | None = None

        def _ask(self, client: ClientProxy, config: dict[str, Any]) -> dict[str, Any]:
            answer = client.get_properties(GetPropertiesIns(config=config), timeout=CALL_TIMEOUT_S, group_id=None)
            if answer.status.code.value != 0:
                raise FederationError(f"a client did not answer {config['ask']!r}: {answer.status.message}")
            return dict(answer.properties)

        def initialize_parameters(self, client_manager: ClientManager) -> Parameters:
            if not client_manager.wait_for(len(self.trusted), timeout=CONNECT_TIMEOUT_S):
                raise FederationError(
                    f"only {client_manager.num_available()} of the {len(self.trusted)} trusted providers "
                    f"connected within {CONNECT_TIMEOUT_S} s"
                )
            for client in client_manager.all().values():
                nonce = secrets.token_urlsafe(32)
                answer = self._ask(client, {"ask": "proof", "nonce": nonce, "audience": self.audience})
                name = check_proof(answer.get("proof", ""), self.trusted, nonce, self.audience)
                if name in self.members:
                    raise FederationError(f"provider {name!r} connected twice")
                self.members[name] = client
            absent = sorted(set(self.trusted) - set(self.members))
            if absent:
                raise FederationError(f"trusted providers {', '.join(absent)} did not connect")
            categories, stats = [], []
            for name in sorted(self.members):
                schema = json.loads(self._ask(self.members[name], {"ask": "schema"})["schema"])
                categories.append({column: set(values) for column, values in schema["categories"].items()})
                stats.append({column: ColumnStats(int(c), float(t), float(q)) for column, (c, t, q) in schema["stats"].items()})
            if not any(stats):
                raise FederationError("no provider has rows to train on")
            self.encoding = merge_encoding(categories, stats)
            return ndarrays_to_parameters([np.zeros(self.encoding.width)])

        def _instructions(self) -> dict[str, Any]:
            assert self.encoding is not None
            return {**self.config, "encoding": _encoding_to_json(self.encoding)}

        def configure_fit(self, server_round: int, parameters: Parameters, client_manager: ClientManager) -> list[tuple[ClientProxy, FitIns]]:
            instructions = FitIns(parameters, self._instructions())
            return [(self.members[name], instructions) for name in sorted(self.members)]

        def aggregate_fit(self, server_round: int, results: list[Any], failures: list[Any]) -> tuple[Parameters | None, dict[str, Any]]:
            if failures:
                raise FederationError(f"round {server_round}: {len(failures)} provider(s) failed to train; the run stops")
            names = {id(client): name for name, client in self.members.items()}
            total = sum(result.num_examples for _, result in results)
            self.rows = {names[id(client)]: result.num_examples for client, result in results}
            self.losses.append(sum(float(result.metrics["loss"]) * result.num_examples for _, result in results) / total)
            # the row-weighted mean, in the providers' name order (the in-process run's order)
            ordered = sorted(results, key=lambda pair: names[id(pair[0])])
            weights = sum(parameters_to_ndarrays(result.parameters)[0] * (result.num_examples / total) for _, result in ordered)
            return ndarrays_to_parameters([weights]), {}

        def configure_evaluate(self, server_round: int, parameters: Parameters, client_manager: ClientManager) -> list[tuple[ClientProxy, EvaluateIns]]:
            if server_round < self.rounds:
                return []
            self.final_weights = parameters_to_ndarrays(parameters)[0]
            instructions = EvaluateIns(parameters, self._instructions())
            return [(self.members[name], instructions) for name in sorted(self.members)]

        def aggregate_evaluate(self, server_round: int, results: list[Any], failures: list[Any]) -> tuple[float | None, dict[str, Any]]:
            if failures:
                raise FederationError(f"{len(failures)} provider(s) failed to evaluate")
            positives = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
            negatives = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
            for _, result in results:
                if result.num_examples:
                    positives += np.frombuffer(result.metrics["positives"], dtype="<i8")
                    negatives += np.frombuffer(result.metrics["negatives"], dtype="<i8")
            self.test_rows = int(positives.sum() + negatives.sum())
            self.auc = histogram_auc(positives, negatives)
            return None, {}

        def evaluate(self, server_round: int, parameters: Parameters) -> None:
            return None


@dataclass(frozen=True)
class FlowerResult:
    auc: float
    test_rows: int
    rows: dict[str, int]
    losses: list[float]
    weights: np.ndarray
    encoding: Encoding
    seconds: float


def _quiet_flower() -> None:
    # Flower logs every message at INFO and warns that its legacy entry points are deprecated
    # (docs/pooling.md says why they are used); a failed run raises FederationError instead.
    logging.getLogger("flwr").setLevel(logging.ERROR)


def serve_coordinator(address: str, tls: Mapping[str, Path], trusted: Mapping[str, dict[str, Any]], *, rounds: int, epochs: int = 5, learning_rate: float = 0.5, l2: float = 1e-3) -> FlowerResult:
    """Run the Flower server until `rounds` rounds are done; raise `FederationError` if the run
    stops (authentication, a missing provider, a failed round)."""
    require_flower()
    _quiet_flower()
    if rounds < 1:
        raise InvalidInput("rounds must be at least 1")
    strategy = AuthenticatedFedAvg(trusted, audience=f"dases-coordinator@{address}", rounds=rounds, epochs=epochs, learning_rate=learning_rate, l2=l2)
    started = time.perf_counter()
    flwr.server.start_server(
        server_address=address,
        config=flwr.server.ServerConfig(num_rounds=rounds, round_timeout=CALL_TIMEOUT_S),
        strategy=strategy,
        certificates=(Path(tls["ca"]).read_bytes(), Path(tls["certificate"]).read_bytes(), Path(tls["key"]).read_bytes()),
    )
    if strategy.auc is None or strategy.encoding is None or strategy.final_weights is None:
        raise FederationError("the run ended without an evaluation")
    return FlowerResult(strategy.auc, strategy.test_rows, strategy.rows, strategy.losses, strategy.final_weights, strategy.encoding, time.perf_counter() - started)


def run_provider(name: str, key: Path, server: str, ca: Path, train: Path | None, test: Path | None, label: str, categorical: Sequence[str], numeric: Sequence[str]) -> None:
    """A provider process: loads its own rows, connects over TLS and answers until the run ends."""
    require_flower()
    _quiet_flower()
    train_provider = Provider(name, pl.read_parquet(train), label, categorical, numeric) if train else None
    test_provider = Provider(name, pl.read_parquet(test), label, categorical, numeric) if test else None
    client = ProviderClient(name, signer_from_file(key, name), train_provider, test_provider)
    flwr.client.start_client(server_address=server, client=client.to_client(), root_certificates=Path(ca).read_bytes(), max_wait_time=CONNECT_TIMEOUT_S)


# --- one command: the dropout task on OULAD, each provider in its own process ---------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_local_federation(
    frames: Sequence[tuple[str, pl.DataFrame | None, pl.DataFrame | None]],
    *,
    rounds: int,
    workdir: Path | None = None,
    impostor: str | None = None,
) -> FlowerResult:
    """Each provider's rows written to a folder of its own, one process per provider, the
    coordinator here. `impostor` names a provider launched with a key the coordinator does not
    trust (what a stolen identity looks like; the run must stop)."""
    require_flower()
    with tempfile.TemporaryDirectory(prefix="dases-federated-", dir=workdir) as scratch:
        root = Path(scratch)
        tls = make_tls(root / "coordinator")
        trusted: dict[str, dict[str, Any]] = {}
        launches = []
        for name, train, test in frames:
            folder = root / name
            folder.mkdir()
            key = generate_key()
            trusted[name] = public_jwk(key)
            if name == impostor:
                key = generate_key()
            write_private(folder / "key.jwk", json.dumps(key.as_dict(private=True)).encode())
            command = [sys.executable, "-m", "dases.pooling.flower", "provider", "--name", name, "--key", str(folder / "key.jwk"), "--ca", str(tls["ca"])]
            for part, frame in (("train", train), ("test", test)):
                if frame is not None and frame.height:
                    frame.write_parquet(folder / f"{part}.parquet")
                    command += [f"--{part}", str(folder / f"{part}.parquet")]
            launches.append((name, command))
        port = free_port()
        address = f"127.0.0.1:{port}"
        processes = []
        for name, command in launches:
            log = open(root / name / "provider.log", "wb")  # noqa: SIM115 - closed below
            processes.append((name, subprocess.Popen([*command, "--server", address], stdout=log, stderr=subprocess.STDOUT), log))
        try:
            result = serve_coordinator(address, tls, trusted, rounds=rounds)
            for name, process, _ in processes:
                if process.wait(timeout=60) != 0:
                    tail = (root / name / "provider.log").read_text(errors="replace")[-2000:]
                    raise FederationError(f"provider {name!r} exited with {process.returncode}: {tail}")
            return result
        finally:
            for _, process, log in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                log.close()


def main(argv: Sequence[str] | None = None) -> int:
    from dases.pooling.features import CATEGORICAL_FEATURES, LABEL, NUMERIC_FEATURES

    parser = argparse.ArgumentParser(prog="python -m dases.pooling.flower", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    provider = commands.add_parser("provider", help="serve one provider's rows to a coordinator")
    provider.add_argument("--name", required=True)
    provider.add_argument("--key", type=Path, required=True, help="the provider's private Ed25519 JWK (a 0600 file)")
    provider.add_argument("--server", required=True, help="the coordinator's HOST:PORT")
    provider.add_argument("--ca", type=Path, required=True, help="the coordinator's CA certificate (PEM)")
    provider.add_argument("--train", type=Path, help="the provider's training rows (Parquet)")
    provider.add_argument("--test", type=Path, help="the provider's test rows (Parquet)")
    arguments = parser.parse_args(argv)
    try:
        run_provider(arguments.name, arguments.key, arguments.server, arguments.ca, arguments.train, arguments.test, LABEL, CATEGORICAL_FEATURES, NUMERIC_FEATURES)
    except (InvalidInput, FederationError) as error:
        print(f"error: {getattr(error, 'detail', error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
