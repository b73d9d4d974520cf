"""The quickstart's journey: a data space started, filled and used, step by step.

Every exchange between organisations goes over HTTP between their nodes, signed, through the
same routes a deployment uses: onboarding at the operator's registry, publication in the
providers' catalogs, DSP negotiation and transfer between connectors. What learners do on their
dashboard (register, link their accounts, answer consent requests) is simulated in-process on
the operator's consent service, through its service functions: the same code the dashboard
calls, without a browser per learner.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from dases.consent import accounts
from dases.consent import service as consent
from dases.consent.api import vocabulary
from dases.errors import DasesError
from dases.pooling import results
from dases.quickstart import scenario as oulad_scenario
from dases.quickstart.nodes import LocalNode, start_node

PURPOSE = "sector-education:StudentPerformanceMonitoring"
PURPOSE_IRI = "https://w3id.org/dpv/sector/education#StudentPerformanceMonitoring"
DATA_CATEGORIES = ("learning_experience", "assessment_results")
DEMO_PASSWORD = "quickstart-learner"
STUDY_DOMAIN = "dropout-study"
POLICY = {
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": PURPOSE},
            ],
        }
    ]
}
_EXPORTS = {
    "registrations": ("Registrations and results, {modules}", "Learners' registrations to the modules {modules} with their demographics and final results."),
    "submissions": ("Assessment submissions, {modules}", "Every assessment submission of the learners of the modules {modules}: date submitted, banked flag, score."),
}

Report = Callable[[str], None]


class JourneyError(DasesError):
    """A step of the quickstart failed; the message says which and why."""


@dataclass
class Journey:
    root: Path
    oulad: Path
    dpv: Path
    learners: int
    report: Report
    nodes: dict[str, LocalNode] = field(default_factory=dict)
    offerings: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    agreements: dict[tuple[str, str], str] = field(default_factory=dict)
    received: dict[tuple[str, str], Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    scenario: oulad_scenario.Scenario | None = None
    #: Each node's database URL by node name; None: a SQLite file in the node's folder.
    database_url_for: Callable[[str], str] | None = None

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self.report(f"[bold]{name}[/bold] ...")
        yield
        self.timings[name] = time.perf_counter() - started
        self.report(f"  done in {self.timings[name]:.1f} s")

    # --- the nodes -----------------------------------------------------------------------------

    def _start_node(self, name: str, **settings: Any) -> LocalNode:
        if self.database_url_for is not None:
            settings["database_url"] = self.database_url_for(name)
        return start_node(self.root, name, dpv_dir=self.dpv, **settings)

    def start(self) -> None:
        operator = self._start_node("operator", governance_authority="operator", catalog_crawl_seconds=0)
        self.nodes["operator"] = operator
        operator.add_participant("operator", "DASES data space operator")
        consent_service = operator.did("operator")
        for slug, name in (("edtech-a", oulad_scenario.PROVIDER_NAMES["edtech-a"]), ("edtech-b", oulad_scenario.PROVIDER_NAMES["edtech-b"]), ("school", "Lycée Marie Curie")):
            node = self._start_node(slug, consent_service=consent_service)
            node.add_participant(slug, name)
            self.nodes[slug] = node
        for slug in ("edtech-a", "edtech-b", "school"):
            self.report(f"  {slug}: {self.nodes[slug].url} ({self.nodes[slug].did(slug)})")
        self.report(f"  operator: {operator.url}")

    def onboard(self) -> None:
        """Each member applies to the operator's registry with a signed call; the operator approves."""
        operator = self.nodes["operator"]
        roles = {"edtech-a": ["data_provider"], "edtech-b": ["data_provider"], "school": ["data_consumer"]}
        for slug, member_roles in roles.items():
            node = self.nodes[slug]
            application = {"legal_name": _legal_name(node, slug), "registration_number": f"FR-{abs(hash(slug)) % 10**9:09d}", "country": "FR", "roles": member_roles}
            with node.signed(slug, operator.did("operator"), operator.url) as client:
                applied = client.post("/registry/applications", json=application)
            _expect(applied, 201, f"{slug} applies to the registry")
            with operator.admin() as admin:
                _expect(admin.post(f"/registry/members/{applied.json()['id']}/approve"), 200, f"the operator approves {slug}")
            self.report(f"  {slug} is a member ({', '.join(member_roles)})")

    # --- the scenario ----------------------------------------------------------------------------

    def load_scenario(self) -> None:
        self.scenario = oulad_scenario.build(self.oulad, self.root / "exports", self.learners)
        held = {provider: sum(1 for learner in self.scenario.learners if provider in learner.providers) for provider in oulad_scenario.PROVIDERS}
        self.report(f"  {len(self.scenario.learners):,} learners drawn from OULAD: " + ", ".join(f"{p} holds {n:,}" for p, n in held.items()))

    def publish(self) -> None:
        """Each provider publishes its two exports, personal data under the purpose's policy."""
        for provider, modules in oulad_scenario.PROVIDERS.items():
            node = self.nodes[provider]
            span = f"{modules[0]}–{modules[-1]}"
            assert self.scenario is not None
            for export, path in self.scenario.exports[provider].items():
                title, description = (text.format(modules=span) for text in _EXPORTS[export])
                body = {
                    "kind": "dataset",
                    "title": title,
                    "description": description,
                    "keywords": ["OULAD", "dropout", export],
                    "data_categories": list(DATA_CATEGORIES),
                    "contains_pii": True,
                    "policy": POLICY,
                    "distributions": [{"format": "HttpData-PULL", "media_type": "text/csv"}],
                }
                with node.admin() as admin:
                    published = admin.post(f"/participants/{provider}/offerings", json=body)
                    _expect(published, 201, f"{provider} publishes {export}")
                    offering = published.json()
                    source = {"kind": "file", "path": str(path), "learner_field": oulad_scenario.LEARNER_FIELD}
                    _expect(admin.put(f"/participants/{provider}/offerings/{offering['id']}/source", json=source), 200, f"{provider} attaches its {export} file")
                self.offerings[(provider, export)] = offering
                self.report(f"  {provider}: {title}")

    def consents(self) -> dict[str, int]:
        """Learners register, link their accounts and answer each provider's request."""
        assert self.scenario is not None
        operator = self.nodes["operator"]
        settings = operator.node.settings
        vocab = vocabulary(settings)
        school = self.nodes["school"].did("school")
        providers = {slug: self.nodes[slug].did(slug) for slug in oulad_scenario.PROVIDERS}
        request = consent.ConsentRequest(consumer_did=school, purpose=PURPOSE, data_categories=DATA_CATEGORIES, duration_days=365, offering="Early dropout detection study")
        password_hash = accounts.hash_password(DEMO_PASSWORD)
        learners = self.scenario.learners
        for start in range(0, len(learners), 250):
            with operator.node.db.transaction() as session:
                for learner in learners[start : start + 250]:
                    subject = accounts.register(
                        session, login=f"learner-{learner.id_student}", password=DEMO_PASSWORD, display_name=f"Learner {learner.id_student}",
                        birth_date=date(1990, 1, 1), language="en", password_hash=password_hash,
                    )  # fmt: skip
                    for provider in learner.providers:
                        code = accounts.issue_link_code(session, provider_did=providers[provider], account=learner.id_student, role="learner", lifetime=timedelta(hours=settings.consent_link_code_hours))
                        accounts.redeem_link_code(session, subject.id, code.code)
                        record = consent.request_consent(session, vocab, provider_did=providers[provider], subject_id=subject.id, request=request, max_days=settings.consent_max_days)
                        if learner.answer == "refuse":
                            consent.refuse(session, record.id, by=subject.id, minor_age=settings.consent_age)
                            continue
                        consent.give(session, record.id, by=subject.id, minor_age=settings.consent_age)
                        if learner.answer == "withdraw":
                            consent.withdraw(session, record.id, by=subject.id, minor_age=settings.consent_age)
        answers = self.scenario.answers()
        self.report(f"  consent given by {answers['give']:,}, refused by {answers['refuse']:,}, given then withdrawn by {answers['withdraw']:,}")
        return answers

    # --- contracts and transfers -----------------------------------------------------------------

    def negotiate(self) -> None:
        school = self.nodes["school"]
        for (provider, export), offering in self.offerings.items():
            connector = f"{self.nodes[provider].url}/participants/{provider}/dsp"
            with school.admin() as admin:
                started = admin.post("/participants/school/negotiations", json={"provider_url": connector, "offer_id": offering["offer_id"]})
                _expect(started, 201, f"the school asks {provider} for {export}")
                url = f"/participants/school/negotiations/{started.json()['id']}"
                view = _wait(admin, url, ("FINALIZED", "TERMINATED"), f"negotiation with {provider}")
            if view["state"] != "FINALIZED":
                raise JourneyError(f"the negotiation with {provider} for {export} ended {view['state']}: {view}")
            self.agreements[(provider, export)] = view["agreement"]["@id"]
            self.report(f"  agreement with {provider} for {export}: {view['agreement']['@id']}")

    def transfer(self) -> dict[tuple[str, str], int]:
        """Pull every agreed dataset; the providers release only consenting learners' rows."""
        school = self.nodes["school"]
        inbox = self.root / "school" / "received"
        inbox.mkdir(parents=True, exist_ok=True)
        rows: dict[tuple[str, str], int] = {}
        for (provider, export), agreement in self.agreements.items():
            with school.admin() as admin:
                started = admin.post("/participants/school/transfers", json={"agreement_id": agreement})
                _expect(started, 201, f"the school starts the transfer of {export} from {provider}")
                url = f"/participants/school/transfers/{started.json()['id']}"
                view = _wait(admin, url, ("COMPLETED", "TERMINATED"), f"transfer from {provider}")
                if view["state"] != "COMPLETED":
                    raise JourneyError(f"the transfer of {export} from {provider} was terminated: {view}")
                data = admin.get(f"{url}/data")
                _expect(data, 200, f"the school reads the {export} of {provider}")
            path = inbox / f"{provider}-{export}.csv"
            path.write_bytes(data.content)
            rows[(provider, export)] = pl.read_csv(io.BytesIO(data.content), infer_schema_length=0).height if data.content.strip() else 0
            self.received[(provider, export)] = path
            self.report(f"  {provider} {export}: {rows[(provider, export)]:,} rows released")
        return rows

    # --- pooling, training and the impact study, in the school's pooling space -----------------

    def pseudonymiser(self) -> Callable[[Sequence[Any]], list[str]]:
        """Study pseudonyms from the operator's pseudonymisation service: a study domain is
        created, the school admitted to it, and each batch of ids sent over a signed call."""
        operator, school = self.nodes["operator"], self.nodes["school"]
        with operator.admin() as admin:
            created = admin.post("/participants/operator/pseudonym-domains", json={"name": STUDY_DOMAIN, "title": "Early dropout detection study"})
            _expect(created, 201, "the operator creates the study's pseudonym domain")
            admitted = admin.post(f"/participants/operator/pseudonym-domains/{STUDY_DOMAIN}/members", json={"did": school.did("school")})
            _expect(admitted, 200, "the operator admits the school to the study domain")
        known: dict[str, str] = {}

        def pseudonymise(identifiers: Sequence[Any]) -> list[str]:
            wanted = sorted({str(value) for value in identifiers} - known.keys())
            for start in range(0, len(wanted), 50_000):
                batch = wanted[start : start + 50_000]
                with school.signed("school", operator.did("operator"), operator.url) as client:
                    answer = client.post(f"/participants/operator/pseudonyms/{STUDY_DOMAIN}", json={"identifiers": batch})
                _expect(answer, 200, "the pseudonymisation service answers")
                known.update(zip(batch, answer.json()["pseudonyms"], strict=True))
            return [known[str(value)] for value in identifiers]

        return pseudonymise

    def pool_and_train(self, pseudonymise: Callable[[Sequence[Any]], list[str]], day: int = 30, k: int = 5) -> dict[str, Any]:
        """The received files, pseudonymised, made k-anonymous, scanned, then the dropout model
        trained on 2013 and tested on 2014, with its model card."""
        from dases.pooling.card import write_model_card
        from dases.pooling.service import summary
        from dases.pooling.study import run_pooled_study, shares_from_exports

        assert self.scenario is not None
        exports = {
            provider: (modules, self.received[(provider, "registrations")], self.received[(provider, "submissions")])
            for provider, modules in oulad_scenario.PROVIDERS.items()
        }
        shares = shares_from_exports(exports, self.oulad)
        answers = self.scenario.answers()
        coverage = answers["give"] / len(self.scenario.learners)
        pooled = run_pooled_study(shares, pseudonymise=pseudonymise, day=day, k=k, source="transfers from edtech-a and edtech-b", consent_coverage=coverage)
        result = {"learners": pooled.learners, "k": pooled.k, "k_reached": pooled.k_reached, "generalisation": pooled.generalisation, **summary(pooled.study)}
        folder = results.save(self._school_data, "school", f"dropout-day-{day}", "dropout", f"Early dropout at day {day}, EdTech Alpha and Beta pooled", result)
        card = write_model_card(pooled.study, folder)
        auc = pooled.study.evaluation.auc
        self.report(f"  {pooled.learners:,} pseudonymous learners pooled; k = {pooled.k_reached} reached ({pooled.generalisation['suppressed']} rows suppressed)")
        self.report(f"  day-{day} dropout model, train 2013 -> test 2014: ROC AUC {auc}")
        self.report(f"  model card: {card}")
        return {"learners": pooled.learners, "k": pooled.k_reached, "auc": str(auc), "card": str(card)}

    def impact(self, pseudonymise: Callable[[Sequence[Any]], list[str]], cutoff: int = 30) -> dict[str, Any]:
        """Did taking the computer-marked quizzes by day 30 go with fewer withdrawals? On the
        pooled received files, pseudonymised, by inverse-probability weighting."""
        from dases.impact import plot, service
        from dases.impact import study as impact_study
        from dases.pooling.study import write_oulad_tables

        folder = self.root / "school" / "impact-oulad"
        providers = list(oulad_scenario.PROVIDERS)
        write_oulad_tables([self.received[(p, "registrations")] for p in providers], [self.received[(p, "submissions")] for p in providers], folder)
        for public in ("assessments.csv", "vle.csv", "courses.csv"):
            (folder / public).write_bytes((self.oulad / public).read_bytes())
        tables = impact_study.load_oulad(folder)
        ids = [str(value) for value in tables.student_info["id_student"].unique().to_list()]
        pseudonyms = dict(zip(ids, pseudonymise(ids), strict=True))
        design = impact_study.Design(treatment="cma", cutoff=cutoff, outcome="withdrawal")
        built = impact_study.study_table(tables, design, lambda learner: pseudonyms[str(learner)], oulad_scenario.PROVIDERS)
        pooled, release = service.impact_study(
            built.rows, "withdrawal", categorical=impact_study.CATEGORICAL_COVARIATES, numeric=impact_study.NUMERIC_COVARIATES, method="ipw", replicates=500,
        )  # fmt: skip
        out = results.save(
            self._school_data, "school", f"impact-cma-day-{cutoff}", "impact", f"Computer-marked quizzes by day {cutoff} and withdrawal",
            {"excluded_presentations": built.excluded, **release},
        )  # fmt: skip
        png = plot.write_plot(pooled, out / "balance.png", f"cma by day {cutoff} -> withdrawal (ipw, pooled)")
        self.report(f"  {built.rows.height:,} learners; effect on withdrawal: {_effect(pooled)}")
        self.report(f"  largest standardised mean difference after weighting: {pooled.balance.max_after:.3f}; plot: {png}")
        return release

    @property
    def _school_data(self) -> Path:
        """The school node's data directory: its studies are kept there, for its portal."""
        return self.nodes["school"].node.settings.data_dir

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()


def _effect(result: Any) -> str:
    """The study's adjusted estimates in one line: estimand, value and 95% interval."""
    return "; ".join(f"{e.estimand} {e.value:+.3f} [{e.ci_low:+.3f}, {e.ci_high:+.3f}]" for e in result.estimates)


def _legal_name(node: LocalNode, slug: str) -> str:
    with node.node.db.transaction() as session:
        from dases.identity import service as identity

        return identity.get_participant(session, slug).name


def _expect(response: Any, status: int, what: str) -> None:
    if response.status_code != status:
        raise JourneyError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")


def _wait(client: httpx.Client, url: str, states: tuple[str, ...], what: str, timeout: float = 60) -> dict[str, Any]:
    """Poll `url` until its `state` is one of `states`."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url)
        _expect(response, 200, what)
        view: dict[str, Any] = response.json()
        if view["state"] in states:
            return view
        if time.monotonic() > deadline:
            raise JourneyError(f"{what} did not finish in {timeout:.0f} s: {view}")
        time.sleep(0.1)
