"""The portal: server-rendered pages under `/portal` (no JavaScript, no OpenAPI entry).

Public, as the catalog and governance APIs are: the catalog browser and offering pages, and the
governance pages. For the node's operator only (`portal_sessions`): the list of participants the
node hosts, and each one's contracts and ledger. Routes share the learner dashboard's page
machinery (`dases.web.api`): errors are pages in the visitor's language, with the same headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from dases.db import utcnow
from dases.identity.service import SLUG_PATTERN
from dases.node import Node, NodeDep, SessionDep
from dases.pooling import results
from dases.web import portal, portal_sessions, sessions, views
from dases.web.api import (
    LANG_COOKIE,
    PORTAL_PATH,
    PageError,
    PageRoute,
    SignInNeeded,
    _css_url,
    _harden,
)
from dases.web.i18n import LANGUAGES, choose_language, supported, translate

SIGNIN_PATH = f"{PORTAL_PATH}/signin"
SLUG = re.compile(SLUG_PATTERN)
OFFERING_ID = re.compile(r"^urn:uuid:[0-9a-f-]{36}$")


@dataclass
class PortalVisit:
    """Who is asking (an anonymous reader, or the node's operator), in which language."""

    request: Request
    node: Node
    db: Session
    lang: str
    session_cookie: str | None
    form_token: str
    form_token_is_new: bool

    @property
    def member(self) -> bool:
        return self.session_cookie is not None

    @property
    def csrf(self) -> str:
        return sessions.csrf_for_session(self.session_cookie) if self.session_cookie else self.form_token

    @property
    def secure(self) -> bool:
        return self.node.settings.base_url.startswith("https://")

    def signed_in(self) -> None:
        if not self.member:
            raise SignInNeeded(SIGNIN_PATH)


def get_visit(request: Request, node: NodeDep, db: SessionDep) -> PortalVisit:
    cookie = request.cookies.get(portal_sessions.SESSION_COOKIE)
    live = portal_sessions.is_live(node.settings, cookie)
    lang = choose_language(
        query=request.query_params.get("lang"),
        cookie=request.cookies.get(LANG_COOKIE),
        account=None,
        accept_language=request.headers.get("accept-language"),
    )
    form_cookie = request.cookies.get(portal_sessions.FORM_COOKIE)
    visit = PortalVisit(
        request=request,
        node=node,
        db=db,
        lang=lang,
        session_cookie=cookie if live else None,
        form_token=form_cookie or sessions.new_form_token(),
        form_token_is_new=not form_cookie,
    )
    request.state.web_db = db
    request.state.web_page = {"lang": lang, "person_name": None, "csrf": visit.csrf, "member_signed_in": visit.member}
    return visit


VisitDep = Annotated[PortalVisit, Depends(get_visit)]
CsrfField = Annotated[str, Form(max_length=200)]
TextField = Annotated[str, Form(max_length=2048)]

router = APIRouter(prefix=PORTAL_PATH, include_in_schema=False, route_class=PageRoute)


# -- responses -------------------------------------------------------------------------------


def _cookies(visit: PortalVisit, response: Response) -> Response:
    chosen = supported(visit.request.query_params.get("lang"))
    if chosen and chosen != visit.request.cookies.get(LANG_COOKIE):
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, path=PORTAL_PATH, secure=visit.secure, httponly=True, samesite="lax")
    if not visit.member and visit.form_token_is_new:
        response.set_cookie(portal_sessions.FORM_COOKIE, visit.form_token, path=PORTAL_PATH, secure=visit.secure, httponly=True, samesite="lax")
    stale = visit.request.cookies.get(portal_sessions.SESSION_COOKIE)
    if stale and not visit.member:
        response.delete_cookie(portal_sessions.SESSION_COOKIE, path=PORTAL_PATH, secure=visit.secure, httponly=True, samesite="lax")
    return response


def _switch_urls(visit: PortalVisit, here: str | None) -> dict[str, str]:
    request = visit.request
    path = here or request.url.path
    keep = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "done")] if here is None else []
    return {code: f"{path}?{urlencode([*keep, ('lang', code)])}" for code in LANGUAGES}


def page(visit: PortalVisit, template: str, title: str, *, status: int = 200, here: str | None = None, current: str = "", **context: Any) -> HTMLResponse:
    html = views.render(
        template,
        visit.lang,
        title=title,
        person_name=None,
        csrf=visit.csrf,
        switch_urls=_switch_urls(visit, here if visit.request.method != "GET" else None),
        css_url=_css_url(),
        current=current,
        section="portal",
        member_signed_in=visit.member,
        **context,
    )
    return _harden(_cookies(visit, HTMLResponse(html, status_code=status)))


def redirect(visit: PortalVisit | None, url: str) -> Response:
    response = RedirectResponse(url, status_code=303)
    return _harden(_cookies(visit, response)) if visit is not None else _harden(response)


def _page_number(visit: PortalVisit, limit: int = 1000) -> int:
    """`?page=N`, 1 by default; anything else than a page that can exist is a 404 page."""
    raw = visit.request.query_params.get("page", "1")
    if not raw.isdigit() or len(raw) > 6 or not 1 <= int(raw) <= limit:
        raise PageError(404, "error_404")
    return int(raw)


def _check_csrf(visit: PortalVisit, submitted: str, *, before_sign_in: bool = False) -> None:
    expected = [sessions.csrf_for_session(visit.session_cookie)] if visit.session_cookie else []
    if before_sign_in and not visit.form_token_is_new:
        expected.append(visit.form_token)
    if not any(sessions.tokens_match(token, submitted) for token in expected):
        raise PageError(403, "csrf_failed")


# -- the public pages ------------------------------------------------------------------------


@router.get("")
def home() -> Response:
    return redirect(None, portal.CATALOG_PATH)


def _filters(visit: PortalVisit) -> portal.CatalogFilters:
    """The browse the query string asks for; a value no vocabulary has is a 422 page naming it."""
    params = visit.request.query_params
    text = " ".join(params.get("q", "").split())
    if len(text) > portal.MAX_QUERY_LENGTH:
        raise PageError(422, "err_query_length", n=portal.MAX_QUERY_LENGTH)
    chosen: dict[str, str | None] = {}
    for facet, (_, values) in portal.FACETS.items():
        value = params.get(facet) or None
        if value is not None and value not in values:
            raise PageError(422, "err_facet_value", field=facet)
        chosen[facet] = value
    scope = params.get("scope") or "node"
    if scope not in portal.SCOPES:
        raise PageError(422, "err_facet_value", field="scope")
    if scope == "space" and not _space_available(visit):
        raise PageError(404, "error_404")
    page_number = _page_number(visit, limit=portal.MAX_OFFSET // portal.PAGE_SIZE)
    return portal.CatalogFilters(text=text, scope=scope, page=page_number, **chosen)


def _space_available(visit: PortalVisit) -> bool:
    """The data space catalog (every member's, crawled) lives on the governance authority's node."""
    return bool(visit.node.settings.governance_authority)


@router.get("/catalog")
def catalog_page(visit: VisitDep) -> Response:
    view = portal.catalog_view(visit.db, _filters(visit), visit.lang, space_available=_space_available(visit))
    return page(visit, "portal_catalog.html", translate(visit.lang, "catalog_title"), current="catalog", view=view)


@router.get("/space/offering")
def space_offering_page(visit: VisitDep) -> Response:
    """A member's offering as the data space catalog holds it (`?provider=<DID>&id=<dataset id>`)."""
    provider = visit.request.query_params.get("provider", "")
    offering_id = visit.request.query_params.get("id", "")
    if not _space_available(visit) or not provider or not offering_id or len(provider) > 512 or len(offering_id) > 512:
        raise PageError(404, "error_404")
    if "\x00" in provider or "\x00" in offering_id:
        raise PageError(404, "error_404")
    view = portal.space_offering_view(visit.db, provider, offering_id, visit.lang)
    return page(visit, "portal_offering.html", view.title, current="catalog", offering=view)


@router.get("/offerings/{offering_id}")
def offering_page(offering_id: str, visit: VisitDep) -> Response:
    if not OFFERING_ID.match(offering_id):  # the catalog's id shape; anything else names nothing
        raise PageError(404, "error_404")
    view = portal.offering_view(visit.db, offering_id, visit.lang)
    return page(visit, "portal_offering.html", view.title, current="catalog", offering=view)


@router.get("/governance")
def governance_page(visit: VisitDep) -> Response:
    view = portal.governance_view(visit.db, visit.node.settings, visit.node.sealer, utcnow(), visit.lang)
    return page(visit, "portal_governance.html", translate(visit.lang, "governance_title"), current="governance", view=view)


# -- signing in ------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """After sign-in: a member page of the portal, never another site."""
    members = f"{PORTAL_PATH}/members"
    if not target or "\\" in target or any(ord(char) < 32 for char in target) or not target.startswith(members):
        return members
    rest = target[len(members):]
    if rest and rest[0] not in "/?":
        return members
    return target


def _signin_page(visit: PortalVisit, *, status: int = 200, message: str | None = None, next_url: str = "", headers: dict[str, str] | None = None) -> HTMLResponse:
    response = page(
        visit, "portal_signin.html", translate(visit.lang, "portal_signin_title"), status=status, here=SIGNIN_PATH, current="members",
        message=message, next_url=next_url, closed=visit.node.settings.admin_token is None,
        done=translate(visit.lang, "done_signed_out") if visit.request.query_params.get("done") == "signed_out" else None,
    )
    response.headers.update(headers or {})
    return response


@router.get("/signin")
def signin_form(visit: VisitDep) -> Response:
    target = visit.request.query_params.get("next", "")
    if visit.member:
        return redirect(visit, _safe_next(target))
    return _signin_page(visit, next_url=_safe_next(target) if target else "")


@router.post("/signin")
def signin(visit: VisitDep, token: TextField = "", csrf: CsrfField = "", next: TextField = "") -> Response:
    _check_csrf(visit, csrf, before_sign_in=True)
    settings = visit.node.settings
    if settings.admin_token is None:
        return _signin_page(visit, status=403, message=translate(visit.lang, "portal_closed"), next_url=next)
    if not token:
        return _signin_page(visit, status=422, message=translate(visit.lang, "err_token_required"), next_url=next)
    wait = sessions.locked_for(visit.db, portal_sessions.THROTTLE_LOGIN)
    if wait:
        message = translate(visit.lang, "signin_locked", seconds=wait)
        return _signin_page(visit, status=429, message=message, next_url=next, headers={"Retry-After": str(wait)})
    if not portal_sessions.token_is_right(settings, token):
        sessions.record_failure(visit.db, portal_sessions.THROTTLE_LOGIN)
        return _signin_page(visit, status=401, message=translate(visit.lang, "portal_token_wrong"), next_url=next)
    sessions.clear_failures(visit.db, portal_sessions.THROTTLE_LOGIN)
    response = redirect(visit, _safe_next(next))
    response.set_cookie(
        portal_sessions.SESSION_COOKIE, portal_sessions.open_session(settings), path=PORTAL_PATH, secure=visit.secure, httponly=True, samesite="lax"
    )
    response.delete_cookie(portal_sessions.FORM_COOKIE, path=PORTAL_PATH, secure=visit.secure, httponly=True, samesite="lax")
    return response


@router.post("/signout")
def signout(visit: VisitDep, csrf: CsrfField = "") -> Response:
    if not visit.member:
        return redirect(visit, SIGNIN_PATH)
    _check_csrf(visit, csrf)
    response = redirect(visit, f"{SIGNIN_PATH}?done=signed_out")
    response.delete_cookie(portal_sessions.SESSION_COOKIE, path=PORTAL_PATH, secure=visit.secure, httponly=True, samesite="lax")
    return response


# -- the members' pages ----------------------------------------------------------------------


def _member_slug(slug: str) -> str:
    if not SLUG.match(slug):
        raise PageError(404, "error_404")
    return slug


@router.get("/members")
def members_page(visit: VisitDep) -> Response:
    visit.signed_in()
    return page(visit, "portal_members.html", translate(visit.lang, "members_title"), current="members", members=portal.members(visit.db))


@router.get("/members/{slug}/contracts")
def contracts_page(slug: str, visit: VisitDep) -> Response:
    visit.signed_in()
    view = portal.contracts_view(visit.db, _member_slug(slug), _page_number(visit), visit.lang)
    return page(visit, "portal_contracts.html", translate(visit.lang, "contracts_title", name=view.member.name), current="members", view=view)


@router.get("/members/{slug}/ledger")
def ledger_page(slug: str, visit: VisitDep) -> Response:
    visit.signed_in()
    view = portal.ledger_view(visit.db, _member_slug(slug), _page_number(visit, limit=100_000), visit.lang)
    return page(visit, "portal_ledger.html", translate(visit.lang, "ledger_title", name=view.member.name), current="members", view=view)


@router.get("/members/{slug}/studies")
def studies_page(slug: str, visit: VisitDep) -> Response:
    """The studies this participant ran here: pooled models with their cards, impact studies."""
    visit.signed_in()
    who = portal.member(visit.db, _member_slug(slug))
    found = results.list_studies(visit.node.settings.data_dir, who.slug)
    return page(visit, "portal_studies.html", translate(visit.lang, "studies_title", name=who.name), current="members", member=who, studies=found)


@router.get("/members/{slug}/studies/{name}")
def study_page(slug: str, name: str, visit: VisitDep) -> Response:
    visit.signed_in()
    who = portal.member(visit.db, _member_slug(slug))
    study = results.get_study(visit.node.settings.data_dir, who.slug, name)
    return page(visit, "portal_study.html", study.title, current="members", member=who, study=study)


@router.get("/members/{slug}/studies/{name}/plots/{plot}")
def study_plot(slug: str, name: str, plot: str, visit: VisitDep) -> Response:
    """A study's PNG plot, for the study page (signed-in readers only, like the page)."""
    visit.signed_in()
    who = portal.member(visit.db, _member_slug(slug))
    path = results.plot_path(visit.node.settings.data_dir, who.slug, name, plot)
    return _harden(Response(path.read_bytes(), media_type="image/png"))


@router.get("/{rest:path}")
def not_found(rest: str) -> Response:
    """Any other address under /portal: a page saying so, not the API's JSON."""
    raise PageError(404, "error_404")
