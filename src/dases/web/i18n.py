"""Every string of the learner's pages, in French and English, and how a page picks its language.

A dict per language rather than gettext: two languages, a few hundred strings, and a test that
both dicts have the same keys is all the tooling this needs. The wording of notices, purposes and
data categories lives with the consent service (`dases.consent.notices`, `plain_language`), so a
notice reads the same on the dashboard as in the receipt.

Language, first found wins: `?lang=` (the switch link), the `lang` cookie that link leaves, the
account's language, the browser's Accept-Language, then French (the data space runs in France).
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("fr", "en")
DEFAULT_LANGUAGE: Final = "fr"
#: What the language switch says, each name in its own language.
LANGUAGE_NAMES: Final = {"fr": "Français", "en": "English"}

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "en": {
        # layout
        "site_name": "DASES: my data",
        "skip_link": "Skip to main content",
        "nav_label": "Main menu",
        "nav_dashboard": "My dashboard",
        "nav_history": "History",
        "nav_sign_in": "Sign in",
        "nav_register": "Create an account",
        "sign_out": "Sign out",
        "signed_in_as": "Signed in as {name}",
        "language_label": "Language",
        "colon": ":",
        "footer": "DASES, the Education & Skills data space. Your choices are kept by its consent service.",
        # sign-in and registration
        "signin_title": "Sign in to your dashboard",
        "signin_intro": "See who holds data about you, and give or withdraw your consent.",
        "signin_button": "Sign in",
        "no_account": "No account yet?",
        "have_account": "Already have an account?",
        "register_title": "Create your account",
        "register_intro": (
            "Your account lets you decide who may use data about you. Organisations know it only "
            "through the accounts you choose to link."
        ),
        "register_button": "Create my account",
        "field_login": "Login",
        "field_login_hint": "3 to 254 characters: letters, digits and . _ @ + - (an e-mail address works too).",
        "field_password": "Password",
        "field_new_password_hint": "At least {n} characters. A sentence of a few words is easy to remember and hard to guess.",
        "field_display_name": "Your name",
        "field_display_name_hint": "As you want to see it on your dashboard.",
        "field_birth_date": "Date of birth",
        "field_birth_date_hint": "Year-month-day, for example 2008-03-27. Under {age}, a parent or guardian gives consent for you.",
        "field_language": "Language of your dashboard",
        "error_summary_title": "There is a problem",
        "error_prefix": "Error:",
        "signin_failed": "The login or the password is wrong.",
        "signin_locked": "Too many failed attempts for this login. Try again in {seconds} seconds.",
        "err_login_required": "Enter your login.",
        "err_password_required": "Enter your password.",
        "err_login_pattern": "Choose a login of 3 to 254 characters: letters, digits and . _ @ + -",
        "err_login_taken": "This login is already taken: choose another one.",
        "err_password_min_length": "The password must have at least {n} characters.",
        "err_password_max_length": "The password must have at most 1024 characters.",
        "err_display_name_length": "Enter a name of 1 to 200 characters.",
        "err_birth_date_format": "Enter the date as year-month-day, for example 2008-03-27.",
        "err_birth_date_range": "Enter your real date of birth; it cannot be in the future.",
        "err_language_enum": "Choose French or English.",
        "err_code_required": "Enter the code the organisation gave you.",
        "err_code_unknown": "This code is unknown, already used or expired. Ask the organisation for a new one.",
        "err_code_taken": "This account is already linked to another person. Contact the organisation.",
        "err_invalid": "This value is not valid.",
        # dashboard
        "dashboard_title": "Your data and your consents",
        "hello": "Hello {name}.",
        "orgs_title": "Organisations that hold data about you",
        "orgs_none": "None yet. Link an account with the code an organisation gives you.",
        "org_holds": "Holds data about you: your account {account}.",
        "org_receives": "Receives data about you, with your consent.",
        "link_title": "Link an account from an organisation",
        "link_intro": (
            "Your school, training centre or learning application can give you a code. Enter it "
            "here to see what it wants to share about you, and to decide. A parent or guardian "
            "enters the code they were given in the same way."
        ),
        "field_code": "Link code",
        "field_code_hint": "12 letters and digits, for example ABCD-EFGH-JK23.",
        "link_button": "Link the account",
        "consents_title": "Your consents",
        "consents_none": "No organisation has asked for your consent yet.",
        "wards_title": "People you are the parent or guardian of",
        "wards_intro": (
            "You decide for them until they are {age}. They can still refuse or withdraw a "
            "consent themselves."
        ),
        "ward_title": "Consents of {name}",
        "ward_none": "No organisation has asked for the consent of {name} yet.",
        "consent_heading": "{consumer}, {purpose}",
        "label_purpose": "What for",
        "label_provider": "Shared by",
        "label_consumer": "Shared with",
        "label_data": "Which data",
        "label_status": "Status",
        "label_valid_until": "Valid until",
        "label_duration": "For how long",
        "duration_days": "{n} days from your yes",
        "duration_day": "1 day from your yes",
        "status_requested": "Waiting for your answer",
        "status_given": "Given",
        "status_refused": "Refused",
        "status_withdrawn": "Withdrawn",
        "status_expired": "Expired",
        "status_invalidated": "No longer valid",
        "action_give": "Give consent",
        "action_refuse": "Refuse",
        "action_withdraw": "Withdraw consent",
        "action_give_again": "Give consent again",
        "actions_label": "Your answer",
        "needs_guardian": "A parent or guardian must give this consent.",
        "notice_summary": "Read the privacy notice",
        "notice_version": "Notice version {version}",
        "receipt_link": "See the signed receipt",
        "done_given": "Consent given.",
        "done_refused": "Consent refused.",
        "done_withdrawn": "Consent withdrawn: no new transfer of this data can start.",
        "done_linked": "The account is linked.",
        "done_guardian": "You are now recorded as parent or guardian.",
        "done_registered": "Your account is created.",
        "done_signed_out": "You are signed out.",
        # receipts
        "receipt_title": "Consent receipt",
        "receipt_intro": (
            "This receipt is signed by the consent service of the data space. Keep it: anyone "
            "can check its signature later, without asking the service."
        ),
        "receipt_event": "Event {seq} of {count}",
        "label_event_time": "Date",
        "label_actor": "Decided by",
        "label_legal_basis": "Legal basis",
        "label_notice_version": "Notice version",
        "label_issuer": "Signed by",
        "label_receipt_id": "Receipt number",
        "label_subject": "Pseudonym at the consent service",
        "download_json": "Download the signed receipt (JSON)",
        "receipt_signature": "Signature (compact JWS)",
        "receipt_other_events": "Receipts of the other events of this consent",
        "back_dashboard": "Back to the dashboard",
        "actor_subject_you": "you",
        "actor_subject_ward": "the learner",
        "actor_guardian": "a parent or guardian",
        "actor_provider": "the organisation that holds the data",
        "actor_system": "the consent service, automatically",
        "event_requested": "Consent asked",
        "event_given": "Consent given",
        "event_refused": "Consent refused",
        "event_withdrawn": "Consent withdrawn",
        "event_expired": "Consent expired",
        "event_invalidated": "Consent no longer valid",
        "no_end": "no end date",
        "at_time": "{date} at {time} UTC",
        # history
        "history_title": "History",
        "history_intro": "Everything that happened to your consents, newest first.",
        "history_consents_title": "Decisions about your consents",
        "history_wards_title": "Decisions about the consents of {name}",
        "history_none": "Nothing has happened yet.",
        "col_when": "When",
        "col_what": "What",
        "col_purpose": "What for",
        "col_with": "Shared with",
        "col_by": "By",
        "col_receipt": "Receipt",
        "receipt_for_event": "Receipt of event {seq}",
        "exchanges_title": "Exchanges of your data",
        "exchanges_none": "No transfer of data about you has been reported yet.",
        "col_from": "From",
        "col_consent": "Consent",
        "exchange_consented": "Under your consent",
        "exchange_without_consent": "Without a valid consent: the consent service has flagged it",
        # errors
        "error_title_400": "Bad request",
        "error_title_401": "Sign-in needed",
        "error_title_403": "Not allowed",
        "error_title_404": "Page not found",
        "error_title_405": "Not allowed here",
        "error_title_409": "Not possible right now",
        "error_title_422": "Invalid input",
        "error_title_429": "Too many attempts",
        "error_title_500": "Something went wrong",
        "error_400": "The request is not valid.",
        "error_401": "Sign in to see this page.",
        "error_403": "You are not allowed to do this.",
        "error_404": "This page does not exist, or it is not yours to see.",
        "error_405": "This page cannot be used this way.",
        "error_409": "This cannot be done now: the consent has changed in the meantime. Go back to your dashboard to see it as it is.",
        "error_422": "Some of what was sent is not valid.",
        "error_429": "Too many attempts. Wait a moment and try again.",
        "error_500": "Something went wrong on our side. Try again later.",
        "csrf_failed": (
            "This form has expired or did not come from this site, so nothing was done. Go back, "
            "reload the page and try again."
        ),
        "minor_cannot_give": "Under {age}, a parent or guardian must give this consent.",
        "not_signed_in": "Sign in to go on.",
    },
    "fr": {
        "site_name": "DASES : mes données",
        "skip_link": "Aller au contenu principal",
        "nav_label": "Menu principal",
        "nav_dashboard": "Mon tableau de bord",
        "nav_history": "Historique",
        "nav_sign_in": "Se connecter",
        "nav_register": "Créer un compte",
        "sign_out": "Se déconnecter",
        "signed_in_as": "Connecté avec le compte de {name}",
        "language_label": "Langue",
        "colon": "\u00a0:",
        "footer": "DASES, l'espace de données Éducation et compétences. Vos choix sont conservés par son service de consentement.",
        "signin_title": "Connexion à votre tableau de bord",
        "signin_intro": "Voyez qui détient des données vous concernant, et donnez ou retirez votre consentement.",
        "signin_button": "Se connecter",
        "no_account": "Pas encore de compte ?",
        "have_account": "Vous avez déjà un compte ?",
        "register_title": "Créer votre compte",
        "register_intro": (
            "Votre compte vous permet de décider qui peut utiliser les données vous concernant. "
            "Les organismes ne le connaissent qu'à travers les comptes que vous choisissez de relier."
        ),
        "register_button": "Créer mon compte",
        "field_login": "Identifiant",
        "field_login_hint": "3 à 254 caractères : lettres, chiffres et . _ @ + - (une adresse e-mail convient aussi).",
        "field_password": "Mot de passe",
        "field_new_password_hint": "Au moins {n} caractères. Une phrase de quelques mots est facile à retenir et difficile à deviner.",
        "field_display_name": "Votre nom",
        "field_display_name_hint": "Tel que vous voulez le voir sur votre tableau de bord.",
        "field_birth_date": "Date de naissance",
        "field_birth_date_hint": "Année-mois-jour, par exemple 2008-03-27. Avant {age} ans, un parent ou un tuteur donne le consentement pour vous.",
        "field_language": "Langue de votre tableau de bord",
        "error_summary_title": "Il y a un problème",
        "error_prefix": "Erreur :",
        "signin_failed": "L'identifiant ou le mot de passe est incorrect.",
        "signin_locked": "Trop d'essais manqués pour cet identifiant. Réessayez dans {seconds} secondes.",
        "err_login_required": "Saisissez votre identifiant.",
        "err_password_required": "Saisissez votre mot de passe.",
        "err_login_pattern": "Choisissez un identifiant de 3 à 254 caractères : lettres, chiffres et . _ @ + -",
        "err_login_taken": "Cet identifiant est déjà pris : choisissez-en un autre.",
        "err_password_min_length": "Le mot de passe doit compter au moins {n} caractères.",
        "err_password_max_length": "Le mot de passe doit compter au plus 1024 caractères.",
        "err_display_name_length": "Saisissez un nom de 1 à 200 caractères.",
        "err_birth_date_format": "Saisissez la date sous la forme année-mois-jour, par exemple 2008-03-27.",
        "err_birth_date_range": "Saisissez votre vraie date de naissance ; elle ne peut pas être dans le futur.",
        "err_language_enum": "Choisissez le français ou l'anglais.",
        "err_code_required": "Saisissez le code que l'organisme vous a donné.",
        "err_code_unknown": "Ce code est inconnu, déjà utilisé ou expiré. Demandez-en un nouveau à l'organisme.",
        "err_code_taken": "Ce compte est déjà relié à une autre personne. Contactez l'organisme.",
        "err_invalid": "Cette valeur n'est pas valide.",
        "dashboard_title": "Vos données et vos consentements",
        "hello": "Bonjour {name}.",
        "orgs_title": "Les organismes qui détiennent des données vous concernant",
        "orgs_none": "Aucun pour l'instant. Reliez un compte avec le code qu'un organisme vous donne.",
        "org_holds": "Détient des données vous concernant : votre compte {account}.",
        "org_receives": "Reçoit des données vous concernant, avec votre consentement.",
        "link_title": "Relier un compte d'un organisme",
        "link_intro": (
            "Votre établissement, votre centre de formation ou votre application d'apprentissage "
            "peut vous donner un code. Saisissez-le ici pour voir ce qu'il veut partager à votre "
            "sujet, et décider. Un parent ou un tuteur saisit de la même façon le code qu'il a reçu."
        ),
        "field_code": "Code de liaison",
        "field_code_hint": "12 lettres et chiffres, par exemple ABCD-EFGH-JK23.",
        "link_button": "Relier le compte",
        "consents_title": "Vos consentements",
        "consents_none": "Aucun organisme ne vous a encore demandé votre consentement.",
        "wards_title": "Les personnes dont vous êtes le parent ou le tuteur",
        "wards_intro": (
            "Vous décidez pour elles jusqu'à leurs {age} ans. Elles peuvent toujours refuser ou "
            "retirer un consentement elles-mêmes."
        ),
        "ward_title": "Consentements de {name}",
        "ward_none": "Aucun organisme n'a encore demandé le consentement de {name}.",
        "consent_heading": "{consumer}, {purpose}",
        "label_purpose": "Dans quel but",
        "label_provider": "Partagé par",
        "label_consumer": "Partagé avec",
        "label_data": "Quelles données",
        "label_status": "État",
        "label_valid_until": "Valable jusqu'au",
        "label_duration": "Pour combien de temps",
        "duration_days": "{n} jours à partir de votre accord",
        "duration_day": "1 jour à partir de votre accord",
        "status_requested": "En attente de votre réponse",
        "status_given": "Donné",
        "status_refused": "Refusé",
        "status_withdrawn": "Retiré",
        "status_expired": "Expiré",
        "status_invalidated": "Plus valable",
        "action_give": "Donner mon accord",
        "action_refuse": "Refuser",
        "action_withdraw": "Retirer mon accord",
        "action_give_again": "Donner à nouveau mon accord",
        "actions_label": "Votre réponse",
        "needs_guardian": "Un parent ou un tuteur doit donner ce consentement.",
        "notice_summary": "Lire la notice d'information",
        "notice_version": "Version de la notice {version}",
        "receipt_link": "Voir le reçu signé",
        "done_given": "Consentement donné.",
        "done_refused": "Consentement refusé.",
        "done_withdrawn": "Consentement retiré : aucun nouveau transfert de ces données ne peut commencer.",
        "done_linked": "Le compte est relié.",
        "done_guardian": "Vous êtes maintenant enregistré comme parent ou tuteur.",
        "done_registered": "Votre compte est créé.",
        "done_signed_out": "Vous êtes déconnecté.",
        "receipt_title": "Reçu de consentement",
        "receipt_intro": (
            "Ce reçu est signé par le service de consentement de l'espace de données. Gardez-le : "
            "n'importe qui peut vérifier sa signature plus tard, sans interroger le service."
        ),
        "receipt_event": "Événement {seq} sur {count}",
        "label_event_time": "Date",
        "label_actor": "Décidé par",
        "label_legal_basis": "Base légale",
        "label_notice_version": "Version de la notice",
        "label_issuer": "Signé par",
        "label_receipt_id": "Numéro du reçu",
        "label_subject": "Pseudonyme au service de consentement",
        "download_json": "Télécharger le reçu signé (JSON)",
        "receipt_signature": "Signature (JWS compact)",
        "receipt_other_events": "Reçus des autres événements de ce consentement",
        "back_dashboard": "Retour au tableau de bord",
        "actor_subject_you": "vous",
        "actor_subject_ward": "l'apprenant",
        "actor_guardian": "un parent ou un tuteur",
        "actor_provider": "l'organisme qui détient les données",
        "actor_system": "le service de consentement, automatiquement",
        "event_requested": "Consentement demandé",
        "event_given": "Consentement donné",
        "event_refused": "Consentement refusé",
        "event_withdrawn": "Consentement retiré",
        "event_expired": "Consentement expiré",
        "event_invalidated": "Consentement devenu invalide",
        "no_end": "sans date de fin",
        "at_time": "{date} à {time} UTC",
        "history_title": "Historique",
        "history_intro": "Tout ce qui est arrivé à vos consentements, du plus récent au plus ancien.",
        "history_consents_title": "Les décisions sur vos consentements",
        "history_wards_title": "Les décisions sur les consentements de {name}",
        "history_none": "Rien pour l'instant.",
        "col_when": "Quand",
        "col_what": "Quoi",
        "col_purpose": "Dans quel but",
        "col_with": "Partagé avec",
        "col_by": "Par",
        "col_receipt": "Reçu",
        "receipt_for_event": "Reçu de l'événement {seq}",
        "exchanges_title": "Les échanges de vos données",
        "exchanges_none": "Aucun transfert de données vous concernant n'a encore été signalé.",
        "col_from": "De",
        "col_consent": "Consentement",
        "exchange_consented": "Avec votre consentement",
        "exchange_without_consent": "Sans consentement valable : le service de consentement l'a signalé",
        "error_title_400": "Requête invalide",
        "error_title_401": "Connexion nécessaire",
        "error_title_403": "Action non autorisée",
        "error_title_404": "Page introuvable",
        "error_title_405": "Action impossible ici",
        "error_title_409": "Action impossible pour le moment",
        "error_title_422": "Saisie invalide",
        "error_title_429": "Trop d'essais",
        "error_title_500": "Une erreur est survenue",
        "error_400": "La requête n'est pas valide.",
        "error_401": "Connectez-vous pour voir cette page.",
        "error_403": "Vous n'êtes pas autorisé à faire cela.",
        "error_404": "Cette page n'existe pas, ou elle ne vous concerne pas.",
        "error_405": "Cette page ne s'utilise pas de cette façon.",
        "error_409": "Ce n'est pas possible maintenant : le consentement a changé entre-temps. Revenez à votre tableau de bord pour le voir tel qu'il est.",
        "error_422": "Une partie de ce qui a été envoyé n'est pas valide.",
        "error_429": "Trop d'essais. Attendez un moment puis réessayez.",
        "error_500": "Une erreur est survenue de notre côté. Réessayez plus tard.",
        "csrf_failed": (
            "Ce formulaire a expiré ou ne vient pas de ce site : rien n'a été fait. Revenez en "
            "arrière, rechargez la page et réessayez."
        ),
        "minor_cannot_give": "Avant {age} ans, un parent ou un tuteur doit donner ce consentement.",
        "not_signed_in": "Connectez-vous pour continuer.",
    },
}


def translate(lang: str, key: str, **values: object) -> str:
    """The `lang` text of `key`, with `{placeholders}` filled; an unknown key is a bug, not a
    blank on the page, so it raises KeyError."""
    text = MESSAGES[lang if lang in MESSAGES else DEFAULT_LANGUAGE][key]
    return text.format(**values) if values else text


def supported(lang: str | None) -> str | None:
    """`lang` if it is one the pages speak (case and region ignored: `en-GB` is `en`)."""
    if not lang:
        return None
    primary = lang.strip().lower().split("-")[0].split("_")[0]
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The supported language the browser prefers most (RFC 9110 q-values), if any."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:32]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        lang = supported(tag)
        if lang and quality > 0:
            ranked.append((-quality, position, lang))
    return min(ranked)[2] if ranked else None


def choose_language(*, query: str | None, cookie: str | None, account: str | None, accept_language: str | None) -> str:
    """The page language: the first of these that names a supported language, else French."""
    return (
        supported(query)
        or supported(cookie)
        or supported(account)
        or from_accept_language(accept_language)
        or DEFAULT_LANGUAGE
    )
