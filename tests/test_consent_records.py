"""Consent records at the service level: the check follows the history exactly, on any sequence
of events; the history is append-only; simultaneous changes never lose an event."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dases.consent import accounts, service
from dases.consent.models import ConsentEvent, ConsentStatus
from dases.consent.purposes import load_purposes
from dases.db import Database
from dases.errors import Conflict, Forbidden, InvalidInput, NotFound
from dases.registry.models import Member, MemberStatus

from .conftest import SHARED

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PURPOSE = "https://w3id.org/dpv/sector/education#StudentPerformanceMonitoring"
PROVIDER = "did:web:school.example"


@pytest.fixture(scope="module")
def vocabulary():  # type: ignore[no-untyped-def]
    return load_purposes(SHARED / "specs" / "dpv")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    with database.transaction() as session:
        add_member(session, PROVIDER, "Lycée Victor Hugo")
    yield database
    database.dispose()


def add_member(session: sa.orm.Session, did: str, name: str, status: MemberStatus = MemberStatus.ACTIVE) -> None:
    session.add(
        Member(id=str(uuid.uuid4()), did=did, legal_name=name, registration_number="1", country="FR", roles=["data_consumer"], status=status.value)
    )


def learner(session: sa.orm.Session, birth_date: date = date(2000, 3, 1)) -> str:
    login = f"learner-{uuid.uuid4().hex[:8]}"
    return accounts.register(session, login=login, password="correct horse battery", display_name="Camille", birth_date=birth_date).id


def ask(session, vocabulary, subject: str, consumer: str, *, days: int = 30, purpose: str = PURPOSE, now: datetime = T0):  # type: ignore[no-untyped-def]
    request = service.ConsentRequest(consumer_did=consumer, purpose=purpose, data_categories=("learning_traces",), duration_days=days)
    return service.request_consent(session, vocabulary, provider_did=PROVIDER, subject_id=subject, request=request, max_days=395, now=now)


def allowed(session, subject: str, consumer: str, at: datetime) -> bool:  # type: ignore[no-untyped-def]
    return service.check(session, subject_id=subject, provider_did=PROVIDER, consumer_did=consumer, purpose=PURPOSE, now=at).allowed


@pytest.fixture
def subject(db: Database) -> str:
    with db.transaction() as session:
        return learner(session)


def new_consumer(db: Database) -> str:
    did = f"did:web:consumer-{uuid.uuid4().hex[:10]}.example"
    with db.transaction() as session:
        add_member(session, did, "Université Numérique")
    return did


def test_give_then_withdraw_switches_the_check(db: Database, subject: str, vocabulary) -> None:  # type: ignore[no-untyped-def]
    consumer = new_consumer(db)
    with db.transaction() as session:
        record = ask(session, vocabulary, subject, consumer)
        assert not allowed(session, subject, consumer, T0)  # requested is not given
        service.give(session, record.id, by=subject, minor_age=15, now=T0 + timedelta(minutes=1))
        assert allowed(session, subject, consumer, T0 + timedelta(minutes=2))
        service.withdraw(session, record.id, by=subject, minor_age=15, now=T0 + timedelta(minutes=3))
        assert not allowed(session, subject, consumer, T0 + timedelta(minutes=4))
        statuses = [event.status for event in service.history(session, record.id)]
    assert statuses == ["requested", "given", "withdrawn"]


def test_expiry_is_enforced_by_time_before_the_sweeper_runs(db: Database, subject: str, vocabulary) -> None:  # type: ignore[no-untyped-def]
    consumer = new_consumer(db)
    with db.transaction() as session:
        record = ask(session, vocabulary, subject, consumer, days=10)
        service.give(session, record.id, by=subject, minor_age=15, now=T0)
        assert allowed(session, subject, consumer, T0 + timedelta(days=10) - timedelta(seconds=1))
        assert not allowed(session, subject, consumer, T0 + timedelta(days=10))
        assert service.expire_due(session, T0 + timedelta(days=11)) >= 1
        events = service.history(session, record.id)
    assert [e.status for e in events] == ["requested", "given", "expired"]
    assert events[-1].at == T0 + timedelta(days=10)  # dated when it lapsed, not when swept


def test_the_history_cannot_be_rewritten(db: Database, subject: str, vocabulary) -> None:  # type: ignore[no-untyped-def]
    consumer = new_consumer(db)
    with db.transaction() as session:
        record_id = ask(session, vocabulary, subject, consumer).id
    for statement in (
        sa.update(ConsentEvent).where(ConsentEvent.record_id == record_id).values(status="given"),
        sa.delete(ConsentEvent).where(ConsentEvent.record_id == record_id),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.transaction() as session:
            session.execute(statement)
    with db.transaction() as session:
        assert [e.status for e in service.history(session, record_id)] == ["requested"]


def test_a_minor_cannot_give_but_can_withdraw(db: Database, vocabulary) -> None:  # type: ignore[no-untyped-def]
    consumer = new_consumer(db)
    with db.transaction() as session:
        minor = learner(session, birth_date=T0.date().replace(year=T0.year - 14))
        record = ask(session, vocabulary, minor, consumer)
        with pytest.raises(Forbidden, match="under 15"):
            service.give(session, record.id, by=minor, minor_age=15, now=T0)
        service.refuse(session, record.id, by=minor, minor_age=15, now=T0)
        assert record.status == "refused"


def test_a_guardian_attested_by_the_provider_gives_for_a_minor(db: Database, vocabulary) -> None:  # type: ignore[no-untyped-def]
    consumer = new_consumer(db)
    with db.transaction() as session:
        minor = learner(session, birth_date=T0.date().replace(year=T0.year - 12))
        parent = learner(session)
        stranger = learner(session)
        code = accounts.issue_link_code(session, provider_did=PROVIDER, account="eleve-42", role="learner", lifetime=timedelta(hours=1))
        accounts.redeem_link_code(session, minor, code.code)
        guardian_code = accounts.issue_link_code(session, provider_did=PROVIDER, account="eleve-42", role="guardian", lifetime=timedelta(hours=1))
        accounts.redeem_link_code(session, parent, guardian_code.code)
        record = ask(session, vocabulary, minor, consumer)
        with pytest.raises(NotFound):
            service.give(session, record.id, by=stranger, minor_age=15, now=T0)
        service.give(session, record.id, by=parent, minor_age=15, now=T0)
        assert allowed(session, minor, consumer, T0 + timedelta(hours=1))
        assert service.history(session, record.id)[-1].actor == "guardian"


def test_a_link_code_works_once(db: Database, subject: str) -> None:
    with db.transaction() as session:
        code = accounts.issue_link_code(session, provider_did=PROVIDER, account="a-1", role="learner", lifetime=timedelta(hours=1))
        accounts.redeem_link_code(session, subject, code.code.lower())  # typed by hand, any case
        with pytest.raises(InvalidInput, match="already used"):
            accounts.redeem_link_code(session, subject, code.code)
        assert accounts.subject_for_account(session, PROVIDER, "a-1") == subject


def test_bad_requests_name_the_field(db: Database, subject: str, vocabulary) -> None:  # type: ignore[no-untyped-def]
    outsider = "did:web:not-a-member.example"
    with db.transaction() as session:
        request = service.ConsentRequest(consumer_did=outsider, purpose="dpv:MakeMoneyFast", data_categories=("dna",), duration_days=9999)
        with pytest.raises(InvalidInput) as caught:
            service.request_consent(session, vocabulary, provider_did=PROVIDER, subject_id=subject, request=request, max_days=395)
    fields = {error.field for error in caught.value.errors}
    assert fields == {"consumer", "purpose", "data_categories", "duration_days"}


def test_a_given_consent_is_not_overwritten_by_a_new_request(db: Database, subject: str, vocabulary) -> None:  # type: ignore[no-untyped-def]
    consumer = new_consumer(db)
    with db.transaction() as session:
        record = ask(session, vocabulary, subject, consumer)
        service.give(session, record.id, by=subject, minor_age=15, now=T0)
        with pytest.raises(Conflict, match="already given"):
            ask(session, vocabulary, subject, consumer, days=200, now=T0 + timedelta(days=1))
        assert allowed(session, subject, consumer, T0 + timedelta(days=2))


# -- the check follows the history, whatever the sequence ---------------------------------------

ACTIONS = st.lists(
    st.tuples(st.sampled_from(["give", "withdraw", "expire", "check"]), st.integers(min_value=0, max_value=20 * 86400)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS, days=st.integers(min_value=1, max_value=15))
def test_check_is_yes_exactly_when_the_latest_event_is_an_unexpired_given(
    db: Database, subject: str, vocabulary, actions: list[tuple[str, int]], days: int  # type: ignore[no-untyped-def]
) -> None:
    consumer = new_consumer(db)
    with db.transaction() as session:
        record_id = ask(session, vocabulary, subject, consumer, days=days).id
    now = T0
    latest: tuple[str, datetime | None] = ("requested", None)  # the oracle: latest event and its end
    for action, step in actions:
        now += timedelta(seconds=step)
        with db.transaction() as session:
            if action == "give":  # giving again renews: a new period from now
                service.give(session, record_id, by=subject, minor_age=15, now=now)
                latest = ("given", now + timedelta(days=days))
            elif action == "withdraw":
                if latest[0] == "given":
                    service.withdraw(session, record_id, by=subject, minor_age=15, now=now)
                    latest = ("withdrawn", None)
                else:
                    with pytest.raises(Conflict):
                        service.withdraw(session, record_id, by=subject, minor_age=15, now=now)
            elif action == "expire":
                service.expire_due(session, now)
                if latest[0] == "given" and latest[1] is not None and latest[1] <= now:
                    latest = ("expired", None)
        with db.transaction() as session:
            for probe in (now, now + timedelta(seconds=step // 2), now + timedelta(days=days)):
                expected = latest[0] == "given" and latest[1] is not None and probe < latest[1]
                assert allowed(session, subject, consumer, probe) is expected, (action, probe, latest)
    with db.transaction() as session:
        events = service.history(session, record_id)
        record = service.get_record(session, record_id)
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert record.status == events[-1].status == (latest[0] if latest[0] != "requested" else "requested")


# -- simultaneous changes ------------------------------------------------------------------------


def test_simultaneous_gives_and_withdrawals_lose_no_event(db: Database, subject: str, vocabulary) -> None:  # type: ignore[no-untyped-def]
    consumer = new_consumer(db)
    with db.transaction() as session:
        record_id = ask(session, vocabulary, subject, consumer, now=datetime.now(UTC)).id
    workers, rounds = 8, 6
    barrier = threading.Barrier(workers)
    succeeded: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        barrier.wait()
        for round_ in range(rounds):
            action = service.give if (index + round_) % 2 == 0 else service.withdraw
            try:
                with db.transaction() as session:
                    action(session, record_id, by=subject, minor_age=15)
                outcome = succeeded
            except Conflict:  # withdrawing what is not given: refused, and nothing written
                outcome = refused
            with lock:
                outcome.append(action.__name__)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.transaction() as session:
        events = service.history(session, record_id)
        record = service.get_record(session, record_id)
    assert len(succeeded) + len(refused) == workers * rounds
    assert len(events) == 1 + len(succeeded)  # the request, then one event per accepted change
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert sorted(e.status for e in events[1:]) == sorted("given" if name == "give" else "withdrawn" for name in succeeded)
    assert record.status == events[-1].status and record.event_count == len(events)
    for before, after in itertools.pairwise(events[1:]):
        if after.status == ConsentStatus.WITHDRAWN:
            assert before.status == ConsentStatus.GIVEN  # a withdrawal always follows a give


def test_a_guardian_code_makes_no_minor_a_guardian(db: Database) -> None:
    with db.transaction() as session:
        teenager = learner(session, birth_date=T0.date().replace(year=T0.year - 16))
        code = accounts.issue_link_code(session, provider_did=PROVIDER, account="eleve-7", role="guardian", lifetime=timedelta(hours=1))
        with pytest.raises(Forbidden, match="at least 18"):
            accounts.redeem_link_code(session, teenager, code.code, now=T0)
        parent = learner(session)
        accounts.redeem_link_code(session, parent, code.code, now=T0)  # the refused attempt did not burn it
