"""The learner's dashboard: server-rendered pages under `/me` (no JavaScript, no OpenAPI entry).

Routes stay thin: who is signed in and in which language (`Visit`), then one call to the
consent service and one template. Every error on these routes becomes an HTML page with the
right 4xx status, never the JSON problem the connector API returns (`PageRoute`), and any write
made before the error is rolled back first.

Forms follow post/redirect/get: a successful POST answers 303 to a page, so reloading never
repeats a decision; a failed one re-renders the form with the errors next to their fields.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import dases
from dases.consent import accounts
from dases.consent import service as consent
from dases.consent.models import ConsentEvent, ConsentRecord, Guardianship, Subject
from dases.consent.receipts import Receipt, sign_receipt
from dases.db import utcnow
from dases.errors import Conflict, DasesError, FieldError, Forbidden, InvalidInput, Unauthorized
from dases.node import Node, NodeDep, SessionDep
from dases.registry import service as registry
from dases.web import sessions, views
from dases.web.i18n import LANGUAGES, MESSAGES, choose_language, supported, translate

log = logging.getLogger(__name__)

LANG_COOKIE = "lang"
COOKIE_PATH = "/me"
#: The portal's pages (`dases.web.portal_api`) share this module's error pages.
PORTAL_PATH = "/portal"
#: No script, no frames, no third party: the pages need nothing else, so nothing else may run.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
STATIC_NAME = re.compile(r"^[a-z0-9_-]{1,64}\.css$")
#: Confirmations a redirect may ask the next page to show (`?done=`); anything else is ignored.
DONE = {"given", "refused", "withdrawn", "linked", "guardian", "registered", "signed_out"}


class PageError(Exception):
    """An error page in the visitor's language: `status` and the i18n key of its message."""

    def __init__(self, status: int, message_key: str, **values: object) -> None:
        super().__init__(message_key)
        self.status = status
        self.message_key = message_key
        self.values = values


class SignInNeeded(Exception):
    """The page is the signed-in learner's: send the visitor to the sign-in page, then back.
    (The portal's member pages raise it with their own sign-in page.)"""

    def __init__(self, signin: str = f"{COOKIE_PATH}/signin") -> None:
        super().__init__(signin)
        self.signin = signin


@dataclass
class Visit:
    """Who is asking, in which language; what every page and form needs to know."""

    request: Request
    node: Node
    db: Session
    lang: str
    token: str | None
    person: Subject | None
    form_token: str
    form_token_is_new: bool
    stale_cookie: bool

    @property
    def csrf(self) -> str:
        """The token the page's forms carry: the session's, or before sign-in the form cookie's."""
        return sessions.csrf_for_session(self.token) if self.token else self.form_token

    @property
    def secure(self) -> bool:
        return self.node.settings.base_url.startswith("https://")

    def signed_in(self) -> Subject:
        if self.person is None:
            raise SignInNeeded()
        return self.person


def get_visit(request: Request, node: NodeDep, db: SessionDep) -> Visit:
    token = request.cookies.get(sessions.SESSION_COOKIE)
    live = sessions.resume(db, token)
    person = accounts.get_subject(db, live.subject_id) if live is not None else None
    lang = choose_language(
        query=request.query_params.get("lang"),
        cookie=request.cookies.get(LANG_COOKIE),
        account=person.language if person else None,
        accept_language=request.headers.get("accept-language"),
    )
    form_cookie = request.cookies.get(sessions.FORM_COOKIE)
    visit = Visit(
        request=request,
        node=node,
        db=db,
        lang=lang,
        token=token if live is not None else None,
        person=person,
        form_token=form_cookie or sessions.new_form_token(),
        form_token_is_new=not form_cookie,
        stale_cookie=token is not None and live is None,
    )
    # what an error page needs, kept as plain values: the transaction may be rolled back by then
    request.state.web_db = db
    request.state.web_page = {"lang": lang, "person_name": person.display_name if person else None, "csrf": visit.csrf}
    return visit


VisitDep = Annotated[Visit, Depends(get_visit)]
CsrfField = Annotated[str, Form(max_length=200)]
TextField = Annotated[str, Form(max_length=2048)]


# -- responses -------------------------------------------------------------------------------


def _harden(response: Response, *, private: bool = True) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if private:
        response.headers["Cache-Control"] = "no-store"
    return response


def _cookies(visit: Visit, response: Response) -> Response:
    """The cookies a visit leaves: the chosen language, the pre-sign-in form token, and the
    removal of a session cookie that no longer opens anything."""
    chosen = supported(visit.request.query_params.get("lang"))
    if chosen and chosen != visit.request.cookies.get(LANG_COOKIE):
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, path=COOKIE_PATH, secure=visit.secure, httponly=True, samesite="lax")
    if visit.person is None and visit.form_token_is_new:
        response.set_cookie(sessions.FORM_COOKIE, visit.form_token, path=COOKIE_PATH, secure=visit.secure, httponly=True, samesite="lax")
    if visit.stale_cookie:
        response.delete_cookie(sessions.SESSION_COOKIE, path=COOKIE_PATH, secure=visit.secure, httponly=True, samesite="lax")
    return response


def _switch_urls(request: Request, here: str | None) -> dict[str, str]:
    """The language switch: the same page (same query, less `lang` and `done`) in each language."""
    path = here or request.url.path
    keep = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "done")] if here is None else []
    return {code: f"{path}?{urlencode([*keep, ('lang', code)])}" for code in LANGUAGES}


def _css_url() -> str:
    return f"{COOKIE_PATH}/static/dases.css?v={dases.__version__}"


def page(visit: Visit, template: str, title: str, *, status: int = 200, here: str | None = None, current: str = "", **context: Any) -> HTMLResponse:
    """An HTML page for this visit; `here` is the page's GET address when answering a POST."""
    html = views.render(
        template,
        visit.lang,
        title=title,
        person_name=visit.person.display_name if visit.person else None,
        csrf=visit.csrf,
        switch_urls=_switch_urls(visit.request, here if visit.request.method != "GET" else None),
        css_url=_css_url(),
        current=current,
        **context,
    )
    return _harden(_cookies(visit, HTMLResponse(html, status_code=status)))


def redirect(visit: Visit | None, url: str) -> Response:
    response = RedirectResponse(url, status_code=303)
    return _harden(_cookies(visit, response)) if visit is not None else _harden(response)


def error_page(request: Request, status: int, message: str, *, headers: dict[str, str] | None = None) -> HTMLResponse:
    """An error as a page, in the visitor's language, for a visit that may have failed half way."""
    known = getattr(request.state, "web_page", None) or {}
    home = PORTAL_PATH if request.url.path == PORTAL_PATH or request.url.path.startswith(PORTAL_PATH + "/") else COOKIE_PATH
    lang = known.get("lang") or choose_language(
        query=request.query_params.get("lang"),
        cookie=request.cookies.get(LANG_COOKIE),
        account=None,
        accept_language=request.headers.get("accept-language"),
    )
    key = status if f"error_title_{status}" in MESSAGES[lang] else (500 if status >= 500 else 400)
    html = views.render(
        "error.html",
        lang,
        title=translate(lang, f"error_title_{key}"),
        message=message if message else translate(lang, f"error_{key}"),
        person_name=known.get("person_name"),
        csrf=known.get("csrf", ""),
        switch_urls=_switch_urls(request, None) if request.method == "GET" else _switch_urls(request, home),
        css_url=_css_url(),
        current="",
        section="portal" if home == PORTAL_PATH else "me",
        home=home,
        member_signed_in=bool(known.get("member_signed_in")),
    )
    return _harden(HTMLResponse(html, status_code=status, headers=headers))


class PageRoute(APIRoute):
    """Routes whose errors are pages: roll back what the request wrote, then render the error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded as needed:
                await _rollback(request)
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                url = f"{needed.signin}?{urlencode({'next': target})}" if request.method == "GET" else needed.signin
                return redirect(None, url)
            except PageError as error:
                await _rollback(request)
                lang = (getattr(request.state, "web_page", None) or {}).get("lang", "fr")
                return error_page(request, error.status, translate(lang, error.message_key, **error.values))
            except DasesError as error:
                await _rollback(request)
                if error.status >= 500:
                    log.error("%s on %s %s: %s", error.slug, request.method, request.url.path, error.detail)
                return error_page(request, error.status, "", headers={k: v for k, v in error.headers.items() if k != "WWW-Authenticate"})
            except RequestValidationError:
                await _rollback(request)
                return error_page(request, 422, "")
            except StarletteHTTPException as error:
                await _rollback(request)
                return error_page(request, error.status_code, "")
            except Exception:
                await _rollback(request)
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                return error_page(request, 500, "")

        return handle


async def _rollback(request: Request) -> None:
    """Undo the request's writes: the transaction dependency would otherwise commit them, since
    the error is answered here, before it reaches the dependency."""
    db: Session | None = getattr(request.state, "web_db", None)
    if db is not None:
        await run_in_threadpool(db.rollback)


router = APIRouter(prefix=COOKIE_PATH, include_in_schema=False, route_class=PageRoute)


def _check_csrf(visit: Visit, submitted: str, *, before_sign_in: bool = False) -> None:
    """Refuse a form that does not carry this visitor's token (403, nothing done)."""
    expected = [sessions.csrf_for_session(visit.token)] if visit.token else []
    if before_sign_in and not visit.form_token_is_new:
        expected.append(visit.form_token)
    if not any(sessions.tokens_match(token, submitted) for token in expected):
        raise PageError(403, "csrf_failed")


def _safe_next(target: str | None) -> str:
    """Where to go after sign-in: a page of the dashboard, never another site."""
    if not target or "\\" in target or any(ord(char) < 32 for char in target):
        return COOKIE_PATH
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not (parts.path == COOKIE_PATH or parts.path.startswith(COOKIE_PATH + "/")):
        return COOKIE_PATH
    if parts.path.startswith(COOKIE_PATH + "/signin") or parts.path.startswith(COOKIE_PATH + "/register"):
        return COOKIE_PATH
    return target


def _sign_in(visit: Visit, subject: Subject, target: str) -> Response:
    """A new session for `subject` (any previous one of this browser closed first)."""
    sessions.close_session(visit.db, visit.token)
    opened = sessions.open_session(visit.db, subject.id)
    response = redirect(visit, target)
    # no max-age: the cookie goes when the browser closes (shared school computers); the server
    # ends the session anyway after IDLE without use or ABSOLUTE in all
    response.set_cookie(sessions.SESSION_COOKIE, opened.token, path=COOKIE_PATH, secure=visit.secure, httponly=True, samesite="lax")
    response.delete_cookie(sessions.FORM_COOKIE, path=COOKIE_PATH, secure=visit.secure, httponly=True, samesite="lax")
    return response


def _field_message(lang: str, error: FieldError) -> str:
    """The learner's words for a rule `accounts.register` reports (its own messages are English)."""
    key = f"err_{error.field}_{error.rule}"
    return translate(lang, key if key in MESSAGES[lang] else "err_invalid", n=accounts.MIN_PASSWORD_LENGTH)


# -- sign-in, registration, sign-out ---------------------------------------------------------


def _signin_page(visit: Visit, *, status: int = 200, login: str = "", message: str | None = None, errors: dict[str, str] | None = None, next_url: str = "", headers: dict[str, str] | None = None) -> HTMLResponse:
    response = page(
        visit, "signin.html", translate(visit.lang, "signin_title"), status=status, here=f"{COOKIE_PATH}/signin", current="signin",
        login=login, message=message, errors=errors or {}, next_url=next_url, done=_done(visit),
    )
    response.headers.update(headers or {})
    return response


def _done(visit: Visit) -> str | None:
    done = visit.request.query_params.get("done")
    return translate(visit.lang, f"done_{done}") if done in DONE else None


@router.get("/signin")
def signin_form(visit: VisitDep) -> Response:
    target = visit.request.query_params.get("next", "")
    if visit.person is not None:
        return redirect(visit, _safe_next(target))
    return _signin_page(visit, next_url=_safe_next(target) if target else "")


@router.post("/signin")
def signin(
    visit: VisitDep,
    login: TextField = "",
    password: TextField = "",
    csrf: CsrfField = "",
    next: TextField = "",
) -> Response:
    _check_csrf(visit, csrf, before_sign_in=True)
    errors = {}
    if not login.strip():
        errors["login"] = translate(visit.lang, "err_login_required")
    if not password:
        errors["password"] = translate(visit.lang, "err_password_required")
    if errors:
        return _signin_page(visit, status=422, login=login, errors=errors, next_url=next)
    wait = sessions.locked_for(visit.db, login)
    if wait:
        message = translate(visit.lang, "signin_locked", seconds=wait)
        return _signin_page(visit, status=429, login=login, message=message, next_url=next, headers={"Retry-After": str(wait)})
    try:
        subject = accounts.authenticate(visit.db, login, password)
    except Unauthorized:
        sessions.record_failure(visit.db, login)
        return _signin_page(visit, status=401, login=login, message=translate(visit.lang, "signin_failed"), next_url=next)
    sessions.clear_failures(visit.db, login)
    return _sign_in(visit, subject, _safe_next(next))


def _register_page(visit: Visit, *, status: int = 200, values: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> HTMLResponse:
    return page(
        visit, "register.html", translate(visit.lang, "register_title"), status=status, here=f"{COOKIE_PATH}/register", current="register",
        values=values or {"login": "", "display_name": "", "birth_date": "", "language": visit.lang},
        errors=errors or {}, min_password=accounts.MIN_PASSWORD_LENGTH, consent_age=visit.node.settings.consent_age,
    )


@router.get("/register")
def register_form(visit: VisitDep) -> Response:
    if visit.person is not None:
        return redirect(visit, COOKIE_PATH)
    return _register_page(visit)


@router.post("/register")
def register(
    visit: VisitDep,
    login: TextField = "",
    display_name: TextField = "",
    birth_date: TextField = "",
    password: TextField = "",
    language: TextField = "",
    csrf: CsrfField = "",
) -> Response:
    _check_csrf(visit, csrf, before_sign_in=True)
    values = {"login": login, "display_name": display_name, "birth_date": birth_date, "language": language}
    errors: dict[str, str] = {}
    try:
        born = date.fromisoformat(birth_date.strip())
    except ValueError:
        # No date, so accounts.register cannot run; report what its published rules already
        # show, so the learner fixes everything in one go.
        errors["birth_date"] = translate(visit.lang, "err_birth_date_format")
        if not accounts.LOGIN_PATTERN.match(login.strip().lower()):
            errors["login"] = translate(visit.lang, "err_login_pattern")
        if len(password) < accounts.MIN_PASSWORD_LENGTH:
            errors["password"] = translate(visit.lang, "err_password_min_length", n=accounts.MIN_PASSWORD_LENGTH)
        return _register_page(visit, status=422, values=values, errors=errors)
    try:
        with visit.db.begin_nested():
            subject = accounts.register(
                visit.db, login=login, password=password, display_name=display_name, birth_date=born, language=language or visit.lang
            )
    except InvalidInput as error:
        for field_error in error.errors:
            errors.setdefault(field_error.field, _field_message(visit.lang, field_error))
        return _register_page(visit, status=422, values=values, errors=errors)
    except Conflict:
        errors["login"] = translate(visit.lang, "err_login_taken")
        return _register_page(visit, status=409, values=values, errors=errors)
    return _sign_in(visit, subject, f"{COOKIE_PATH}?done=registered")


@router.post("/signout")
def signout(visit: VisitDep, csrf: CsrfField = "") -> Response:
    if visit.person is None:
        return redirect(visit, f"{COOKIE_PATH}/signin")
    _check_csrf(visit, csrf)
    sessions.close_session(visit.db, visit.token)
    response = redirect(visit, f"{COOKIE_PATH}/signin?done=signed_out")
    response.delete_cookie(sessions.SESSION_COOKIE, path=COOKIE_PATH, secure=visit.secure, httponly=True, samesite="lax")
    return response


# -- dashboard -------------------------------------------------------------------------------


def _dashboard_page(visit: Visit, *, status: int = 200, code: str = "", code_error: str | None = None) -> HTMLResponse:
    person = visit.signed_in()
    view = views.dashboard(visit.db, visit.node.settings, person, visit.lang, utcnow())
    return page(
        visit, "dashboard.html", translate(visit.lang, "dashboard_title"), status=status, here=COOKIE_PATH if status != 200 else None,
        current="dashboard", view=view, done=_done(visit), code=code, errors={"code": code_error} if code_error else {},
    )


@router.get("")
def dashboard(visit: VisitDep) -> Response:
    return _dashboard_page(visit)


@router.post("/link")
def link_account(visit: VisitDep, code: TextField = "", csrf: CsrfField = "") -> Response:
    """Redeem a link code: the learner's account at a provider, or a guardianship."""
    person = visit.signed_in()
    _check_csrf(visit, csrf)
    if not code.strip():
        return _dashboard_page(visit, status=422, code=code, code_error=translate(visit.lang, "err_code_required"))
    try:
        with visit.db.begin_nested():  # a refused code stays unused
            linked = accounts.redeem_link_code(visit.db, person.id, code[:64])
    except InvalidInput:
        return _dashboard_page(visit, status=422, code=code, code_error=translate(visit.lang, "err_code_unknown"))
    except Conflict:
        return _dashboard_page(visit, status=409, code=code, code_error=translate(visit.lang, "err_code_taken"))
    done = "guardian" if isinstance(linked, Guardianship) else "linked"
    return redirect(visit, f"{COOKIE_PATH}?done={done}")


def _decide(visit: Visit, record_id: str, csrf: str, decision: Callable[..., Any], done: str) -> Response:
    person = visit.signed_in()
    _check_csrf(visit, csrf)
    age = visit.node.settings.consent_age
    try:
        decision(visit.db, record_id, by=person.id, minor_age=age)
    except Forbidden as error:
        raise PageError(403, "minor_cannot_give", age=age) from error
    return redirect(visit, f"{COOKIE_PATH}?done={done}#consent-{record_id}")


@router.post("/consents/{record_id}/give")
def give(record_id: str, visit: VisitDep, csrf: CsrfField = "") -> Response:
    return _decide(visit, record_id, csrf, consent.give, "given")


@router.post("/consents/{record_id}/refuse")
def refuse(record_id: str, visit: VisitDep, csrf: CsrfField = "") -> Response:
    return _decide(visit, record_id, csrf, consent.refuse, "refused")


@router.post("/consents/{record_id}/withdraw")
def withdraw(record_id: str, visit: VisitDep, csrf: CsrfField = "") -> Response:
    """One click, no confirmation: withdrawing must be as easy as giving (GDPR art. 7(3))."""
    return _decide(visit, record_id, csrf, consent.withdraw, "withdrawn")


# -- receipts and history --------------------------------------------------------------------


@dataclass(frozen=True)
class ChosenReceipt:
    person: Subject
    record: ConsentRecord
    event: ConsentEvent
    events: list[ConsentEvent]
    receipt: Receipt


def _receipt(visit: Visit, record_id: str, event: int | None) -> ChosenReceipt:
    """The receipt of one event (the latest by default) of a record this person may see, signed
    now by the consent service; anyone else gets the same 404 as for a record that does not exist."""
    person = visit.signed_in()
    record = consent.record_for_person(visit.db, record_id, person.id)
    events = consent.history(visit.db, record.id)
    chosen = events[-1] if event is None and events else next((e for e in events if e.seq == event), None)
    if chosen is None:
        raise PageError(404, "error_404")
    signer = registry.authority_signer(visit.db, visit.node.settings, visit.node.sealer)
    receipt = sign_receipt(record, chosen, views.vocabulary(visit.node.settings), signer, utcnow())
    return ChosenReceipt(person, record, chosen, events, receipt)


def _event_param(visit: Visit) -> int | None:
    raw = visit.request.query_params.get("event")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise PageError(404, "error_404")
    return int(raw)


@router.get("/consents/{record_id}/receipt")
def receipt_page(record_id: str, visit: VisitDep) -> Response:
    chosen = _receipt(visit, record_id, _event_param(visit))
    view = views.receipt_view(
        chosen.record, chosen.event, chosen.events, chosen.receipt.content, chosen.receipt.jws,
        names=views.Names(visit.db), vocab=views.vocabulary(visit.node.settings), lang=visit.lang,
        viewer_is_subject=chosen.record.subject_id == chosen.person.id,
    )
    return page(visit, "receipt.html", translate(visit.lang, "receipt_title"), receipt=view)


@router.get("/consents/{record_id}/receipt.json")
def receipt_download(record_id: str, visit: VisitDep) -> Response:
    chosen = _receipt(visit, record_id, _event_param(visit))
    filename = f"consent-receipt-{chosen.record.id}-{chosen.event.seq}.json"
    response = JSONResponse(chosen.receipt.as_json(), headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return _harden(response)


@router.get("/history")
def history(visit: VisitDep) -> Response:
    person = visit.signed_in()
    sections = views.history(visit.db, visit.node.settings, person, visit.lang)
    exchanges = views.exchanges(visit.db, visit.node.settings, person, visit.lang)
    return page(visit, "history.html", translate(visit.lang, "history_title"), current="history", sections=sections, exchanges=exchanges)


# -- static files and unknown pages ----------------------------------------------------------


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = views.STATIC_DIR / name
    if not STATIC_NAME.match(name) or not path.is_file():
        raise PageError(404, "error_404")
    response = FileResponse(path, media_type="text/css")
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/{rest:path}")
def not_found(rest: str) -> Response:
    """Any other address under /me: a page saying so, not the API's JSON."""
    if rest == "":
        return redirect(None, COOKIE_PATH)
    raise PageError(404, "error_404")

