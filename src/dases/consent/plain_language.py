"""What a learner reads: DPV purposes, data categories and legal bases in plain French and English.

DPV definitions are written for lawyers and engineers ("Purposes associated with assessment of
academic potential as a measure of the capability of the student..."). A consent is only
informed if the person giving it understands it, and many of our learners are teenagers, so every
term a notice can show has a short sentence here, written for a 15-year-old, in both languages.

Purpose phrases complete "Your data will be used ..." / "Vos données seront utilisées ...".
Data-category labels are noun phrases that fit in a list ("your test results, your skills").
The tables are data: a test checks that every purpose key is a real DPV IRI, and changing any
wording means bumping `notices.NOTICE_TEMPLATE_VERSION` (a test pins a fingerprint of them).
"""

from __future__ import annotations

from typing import Final, TypedDict

from dases.consent.purposes import PurposeVocabulary
from dases.errors import FieldError, InvalidInput

LANGUAGES: Final = ("en", "fr")

DPV: Final = "https://w3id.org/dpv#"
EDU: Final = "https://w3id.org/dpv/sector/education#"
PD: Final = "https://w3id.org/dpv/pd#"
EU_GDPR: Final = "https://w3id.org/dpv/legal/eu/gdpr#"


class Wording(TypedDict):
    en: str
    fr: str


class DataCategory(Wording):
    #: The DPV personal-data (pd:) term, or None where DPV-PD has no term that fits exactly.
    iri: str | None


class LegalBasis(Wording):
    iri: str


class UnsupportedLanguage(InvalidInput, ValueError):
    """A notice language we have no wording for. A ValueError for plain callers, an InvalidInput
    (422 naming `lang`) when the language came in a request."""

    def __init__(self, lang: object) -> None:
        message = f"unsupported language {lang!r}: notices are written in {' and '.join(LANGUAGES)}"
        super().__init__(message, errors=[FieldError("lang", "enum", message)])


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise UnsupportedLanguage(lang)
    return lang


def _w(en: str, fr: str) -> Wording:
    return {"en": en, "fr": fr}


# --- purposes -----------------------------------------------------------------------------------

_EDUCATION_PURPOSES: Final[dict[str, Wording]] = {
    "AccessManagement": _w(
        "to decide who can use which courses, resources and services",
        "pour décider qui peut utiliser quels cours, ressources et services",
    ),
    "EducationManagement": _w(
        "to run the school or training centre and its services",
        "pour faire fonctionner l'établissement ou l'organisme de formation et ses services",
    ),
    "ResearchDataManagement": _w(
        "to store and look after data used in education research",
        "pour conserver et protéger des données utilisées dans la recherche sur l'éducation",
    ),
    "ResearchIntegrityManagement": _w(
        "to check that education research is done honestly",
        "pour vérifier que la recherche sur l'éducation est menée honnêtement",
    ),
    "ResearchManagement": _w(
        "for research on education, done by a school or a university",
        "pour de la recherche sur l'éducation, menée par un établissement ou une université",
    ),
    "ResearchUserStudyManagement": _w(
        "for a study in education research in which people like you take part",
        "pour une étude de recherche sur l'éducation à laquelle participent des personnes comme vous",
    ),
    "ServiceProvision": _w(
        "to give you your lessons and learning services",
        "pour vous donner vos cours et vos services d'apprentissage",
    ),
    "StaffManagement": _w(
        "to manage the teachers and staff",
        "pour gérer les enseignants et le personnel",
    ),
    "StaffPerformanceAssessment": _w(
        "to assess how well teachers and staff do their work",
        "pour évaluer le travail des enseignants et du personnel",
    ),
    "StudentAcademicPotentialAssessment": _w(
        "to estimate which studies you could succeed in",
        "pour estimer dans quelles études vous pourriez réussir",
    ),
    "StudentAdmissionManagement": _w(
        "to handle your application to a school or a course",
        "pour traiter votre candidature à un établissement ou à une formation",
    ),
    "StudentAdmissionScreening": _w(
        "to sort applications and choose who is admitted",
        "pour trier les candidatures et choisir qui est admis",
    ),
    "StudentAllocation": _w(
        "to place you in a school, a course or a group",
        "pour vous affecter à un établissement, une formation ou un groupe",
    ),
    "StudentAssignmentAssessment": _w(
        "to mark your homework and assignments",
        "pour noter vos devoirs et vos travaux",
    ),
    "StudentAttendanceManagement": _w(
        "to keep track of when you attend your classes",
        "pour suivre votre présence en cours",
    ),
    "StudentCheatingAssessment": _w(
        "to detect cheating",
        "pour détecter la triche",
    ),
    "StudentContentDelivery": _w(
        "to give you access to your course content",
        "pour vous donner accès au contenu de vos cours",
    ),
    "StudentCourseAllocation": _w(
        "to place you in a course",
        "pour vous inscrire dans un cours",
    ),
    "StudentCourseRecommendation": _w(
        "to suggest courses that could suit you",
        "pour vous proposer des cours qui pourraient vous convenir",
    ),
    "StudentEligibilityAssessment": _w(
        "to check whether you meet the conditions to join a course",
        "pour vérifier si vous remplissez les conditions pour suivre une formation",
    ),
    "StudentEnrolmentManagement": _w(
        "to register you in your courses and programmes",
        "pour vous inscrire à vos cours et formations",
    ),
    "StudentExamAssessment": _w(
        "to mark your exams",
        "pour noter vos examens",
    ),
    "StudentFeesManagement": _w(
        "to manage the fees for your studies",
        "pour gérer les frais de vos études",
    ),
    "StudentFinancialBenefitsManagement": _w(
        "to manage grants and financial help for your studies",
        "pour gérer les bourses et les aides financières pour vos études",
    ),
    "StudentGuidanceManagement": _w(
        "to give you guidance and advice about your studies and your future",
        "pour vous orienter et vous conseiller sur vos études et votre avenir",
    ),
    "StudentIdentityVerification": _w(
        "to check that you are really you, for example before an exam",
        "pour vérifier que c'est bien vous, par exemple avant un examen",
    ),
    "StudentInPersonProctoring": _w(
        "to watch over an exam taken in a room, to prevent cheating",
        "pour surveiller un examen passé en salle, afin d'éviter la triche",
    ),
    "StudentInstituteAllocation": _w(
        "to place you in a school or a training centre",
        "pour vous affecter à un établissement ou un organisme de formation",
    ),
    "StudentInstituteRecommendation": _w(
        "to suggest schools that could suit you",
        "pour vous proposer des établissements qui pourraient vous convenir",
    ),
    "StudentIntegrityManagement": _w(
        "to make sure studies and exams are fair and honest",
        "pour s'assurer que les études et les examens sont justes et honnêtes",
    ),
    "StudentIntegrityTraining": _w(
        "to teach you the rules of honest work, such as not copying",
        "pour vous apprendre les règles d'un travail honnête, comme ne pas copier",
    ),
    "StudentLearningFeedbackManagement": _w(
        "to give you feedback on your learning",
        "pour vous faire des retours sur vos apprentissages",
    ),
    "StudentLearningNeedsAssessment": _w(
        "to understand what help and resources you need to learn",
        "pour comprendre de quelle aide et de quelles ressources vous avez besoin pour apprendre",
    ),
    "StudentLearningOutcomeAssessment": _w(
        "to check what you have learned",
        "pour vérifier ce que vous avez appris",
    ),
    "StudentManagement": _w(
        "to manage your school or training record",
        "pour gérer votre dossier scolaire ou de formation",
    ),
    "StudentMisconductInvestigation": _w(
        "to look into a possible breach of the rules",
        "pour examiner un possible manquement au règlement",
    ),
    "StudentOnlineProctoring": _w(
        "to watch over an online exam, for example with your webcam, to prevent cheating",
        "pour surveiller un examen en ligne, par exemple avec votre webcam, afin d'éviter la triche",
    ),
    "StudentPerformanceAssessment": _w(
        "to assess your results",
        "pour évaluer vos résultats",
    ),
    "StudentPerformanceManagement": _w(
        "to help you improve your results",
        "pour vous aider à améliorer vos résultats",
    ),
    "StudentPerformanceMonitoring": _w(
        "to follow your progress and detect early that a student may drop out",
        "pour suivre votre progression et repérer tôt qu'un élève risque de décrocher",
    ),
    "StudentPersonalisedContentDelivery": _w(
        "to fit your lessons and exercises to your needs",
        "pour adapter vos cours et vos exercices à vos besoins",
    ),
    "StudentPlagiarismDetection": _w(
        "to check that your work is not copied from someone else",
        "pour vérifier que votre travail n'est pas copié sur quelqu'un d'autre",
    ),
    "StudentProctoring": _w(
        "to watch over your exams, to prevent cheating",
        "pour surveiller vos examens, afin d'éviter la triche",
    ),
    "StudentProgramAllocation": _w(
        "to place you in a programme",
        "pour vous affecter à un cursus",
    ),
    "StudentProgramRecommendation": _w(
        "to suggest programmes that could suit you",
        "pour vous proposer des cursus qui pourraient vous convenir",
    ),
    "StudentResourceAccessManagement": _w(
        "to give you access to the resources you need, such as books or software",
        "pour vous donner accès aux ressources dont vous avez besoin, comme des livres ou des logiciels",
    ),
    "StudentSocialActivitiesManagement": _w(
        "to organise clubs, outings and other activities with other students",
        "pour organiser des clubs, des sorties et d'autres activités avec les autres élèves",
    ),
    "StudentSpecialNeedsManagement": _w(
        "to plan the support you need, for example because of a disability",
        "pour prévoir l'accompagnement dont vous avez besoin, par exemple en cas de handicap",
    ),
    "StudentWellbeingManagement": _w(
        "to look after your well-being at school",
        "pour veiller à votre bien-être pendant vos études",
    ),
}

_DPV_PURPOSES: Final[dict[str, Wording]] = {
    "Purpose": _w(
        "for a purpose of the organisation",
        "pour un objectif de l'organisme",
    ),
    "ResearchAndDevelopment": _w(
        "for research, and to create new methods, products or services",
        "pour de la recherche, et pour créer de nouvelles méthodes, de nouveaux produits ou services",
    ),
    "AcademicResearch": _w(
        "for research done by a university or a research lab",
        "pour de la recherche menée par une université ou un laboratoire",
    ),
    "ScientificResearch": _w(
        "for scientific research",
        "pour de la recherche scientifique",
    ),
    "CommercialResearch": _w(
        "for research by a company that wants to sell what it finds",
        "pour de la recherche menée par une entreprise qui veut vendre ce qu'elle trouve",
    ),
    "NonCommercialResearch": _w(
        "for research that is not done to make money",
        "pour de la recherche qui n'a pas pour but de gagner de l'argent",
    ),
    "CommercialPurpose": _w(
        "for business, to make money",
        "dans un but commercial, pour gagner de l'argent",
    ),
    "NonCommercialPurpose": _w(
        "for a goal that is not about making money",
        "dans un but qui n'est pas de gagner de l'argent",
    ),
    "ServiceManagement": _w(
        "to run and manage a service you use",
        "pour faire fonctionner et gérer un service que vous utilisez",
    ),
    "ServiceProvision": _w(
        "to give you a service",
        "pour vous fournir un service",
    ),
    "RequestedServiceProvision": _w(
        "to give you a service you asked for",
        "pour vous fournir un service que vous avez demandé",
    ),
    "TechnicalServiceProvision": _w(
        "to make the service work technically",
        "pour faire fonctionner le service techniquement",
    ),
    "SearchFunctionalities": _w(
        "to let you search the service",
        "pour vous permettre de faire des recherches dans le service",
    ),
    "ServiceRegistration": _w(
        "to create your account on the service",
        "pour créer votre compte sur le service",
    ),
    "AccountManagement": _w(
        "to manage your account",
        "pour gérer votre compte",
    ),
    "ServiceMonitoring": _w(
        "to check that the service works well",
        "pour vérifier que le service fonctionne bien",
    ),
    "ServiceUsageAnalytics": _w(
        "to measure how the service is used",
        "pour mesurer comment le service est utilisé",
    ),
    "ServiceOptimisation": _w(
        "to make the service work better",
        "pour améliorer le fonctionnement du service",
    ),
    "OptimisationForConsumer": _w(
        "to make the service work better for you",
        "pour que le service fonctionne mieux pour vous",
    ),
    "ImproveExistingProductsAndServices": _w(
        "to improve existing learning tools and services",
        "pour améliorer des outils et services d'apprentissage qui existent déjà",
    ),
    "Personalisation": _w(
        "to fit things to your needs",
        "pour adapter les choses à vos besoins",
    ),
    "ServicePersonalisation": _w(
        "to fit the service to your needs",
        "pour adapter le service à vos besoins",
    ),
    "PersonalisedBenefits": _w(
        "to offer you advantages chosen for you",
        "pour vous proposer des avantages choisis pour vous",
    ),
    "ProvidePersonalisedRecommendations": _w(
        "to suggest things chosen for you",
        "pour vous faire des suggestions choisies pour vous",
    ),
    "UserInterfacePersonalisation": _w(
        "to fit what you see on screen to your needs",
        "pour adapter à vos besoins ce que vous voyez à l'écran",
    ),
    "PublicBenefit": _w(
        "for the good of society",
        "pour l'intérêt de la société",
    ),
    "ImprovePublicServices": _w(
        "to improve public services, such as education",
        "pour améliorer les services publics, comme l'éducation",
    ),
    "ProvideOfficialStatistics": _w(
        "to produce official statistics",
        "pour produire des statistiques officielles",
    ),
    "PublicPolicyMaking": _w(
        "to help decide public policies, such as education policies",
        "pour aider à décider des politiques publiques, comme celles de l'éducation",
    ),
    "DataAltruism": _w(
        "for the general interest, because you choose to share your data for free",
        "pour l'intérêt général, parce que vous choisissez de partager vos données gratuitement",
    ),
    "EnforceSecurity": _w(
        "to keep data and services safe",
        "pour protéger les données et les services",
    ),
    "IdentityVerification": _w(
        "to check that you are really you",
        "pour vérifier que c'est bien vous",
    ),
    "FraudPreventionAndDetection": _w(
        "to prevent and detect fraud",
        "pour empêcher et détecter la fraude",
    ),
    "CommunicationManagement": _w(
        "to send you messages",
        "pour vous envoyer des messages",
    ),
    "RecordManagement": _w(
        "to keep records of what was done",
        "pour garder une trace de ce qui a été fait",
    ),
    "LegalCompliance": _w(
        "to follow the law",
        "pour respecter la loi",
    ),
    "PersonnelHiring": _w(
        "to recruit people for jobs",
        "pour recruter des personnes pour des emplois",
    ),
    "RecruitmentManagement": _w(
        "to manage recruitment for jobs",
        "pour gérer des recrutements",
    ),
    "Marketing": _w(
        "for marketing, to promote products or services",
        "pour du marketing, afin de promouvoir des produits ou des services",
    ),
    "DirectMarketing": _w(
        "to send you advertising directly",
        "pour vous envoyer directement de la publicité",
    ),
    "Advertising": _w(
        "for advertising",
        "pour de la publicité",
    ),
    "SellDataToThirdParties": _w(
        "to sell or give your data to other organisations",
        "pour vendre ou donner vos données à d'autres organismes",
    ),
    "SellInsightsFromData": _w(
        "to sell what is learned from your data to other organisations",
        "pour vendre à d'autres organismes ce qui est appris de vos données",
    ),
}

#: Plain-language purpose phrases by purpose IRI.
PURPOSES: Final[dict[str, Wording]] = {
    **{EDU + name: wording for name, wording in _EDUCATION_PURPOSES.items()},
    **{DPV + name: wording for name, wording in _DPV_PURPOSES.items()},
}


def in_language(wording: Wording, lang: str) -> str:
    """The `lang` side of a wording entry; an unsupported language is refused, never defaulted."""
    check_language(lang)
    return wording["en"] if lang == "en" else wording["fr"]


def plain_purpose(vocabulary: PurposeVocabulary, iri: str, lang: str) -> str:
    """The learner-facing phrase for a purpose, never empty.

    A purpose without its own phrase borrows the one of its nearest broader purpose that has
    one, followed by the DPV label in parentheses, so the notice stays understandable and still
    names the exact purpose ("for research on education ... (Research Integrity Management)").
    dpv:Purpose, the root, has a phrase, so every purpose of the vocabulary gets one.
    """
    check_language(lang)
    purpose = vocabulary.resolve(iri)
    if purpose.iri in PURPOSES:
        return in_language(PURPOSES[purpose.iri], lang)
    nearest = next(
        (ancestor for ancestor in vocabulary.ancestors(purpose.iri) if ancestor in PURPOSES),
        DPV + "Purpose",
    )
    return f"{in_language(PURPOSES[nearest], lang)} ({purpose.label})"


# --- data categories ----------------------------------------------------------------------------

#: The personal-data categories a consent can cover, by the short id the API uses. The ids are
#: the catalog's data categories (`dases.catalog.models.DataCategory`) that concern a person, so
#: an offering's categories carry over to the consent asked for it, plus the identity and
#: demographic data every learner record holds.
DATA_CATEGORIES: Final[dict[str, DataCategory]] = {
    "learning_traces": {
        "en": "your learning activity (what you did, your progress, the time you spent)",
        "fr": "votre activité d'apprentissage (ce que vous avez fait, votre progression, "
        "le temps passé)",
        "iri": PD + "ServiceConsumptionBehavior",
    },
    "assessment_results": {
        "en": "your test and exam results",
        "fr": "vos résultats aux tests et aux examens",
        "iri": PD + "Education",
    },
    "skills_profile": {
        "en": "your skills, named with the European ESCO list",
        "fr": "vos compétences, nommées avec la liste européenne ESCO",
        "iri": None,  # DPV-PD 2.1 has no skill term; pd:Professional would be too broad
    },
    "hard_skills": {
        "en": "your technical skills",
        "fr": "vos compétences techniques",
        "iri": None,
    },
    "soft_skills": {
        "en": "your personal skills (teamwork, organisation, communication)",
        "fr": "vos compétences personnelles (travail en équipe, organisation, communication)",
        "iri": None,
    },
    "learning_experience": {
        "en": "the courses and programmes you follow or followed",
        "fr": "les cours et les formations que vous suivez ou avez suivis",
        "iri": PD + "EducationExperience",
    },
    "professional_experience": {
        "en": "your jobs, internships and work experience",
        "fr": "vos emplois, vos stages et votre expérience professionnelle",
        "iri": PD + "EmploymentHistory",
    },
    "credentials": {
        "en": "your diplomas, certificates and badges",
        "fr": "vos diplômes, certificats et badges",
        "iri": PD + "EducationQualification",
    },
    "identity": {
        "en": "your name, your e-mail address and your learner numbers",
        "fr": "votre nom, votre adresse e-mail et vos identifiants d'apprenant",
        "iri": PD + "Identifying",
    },
    "demographics": {
        "en": "your age group and your region",
        "fr": "votre tranche d'âge et votre région",
        "iri": PD + "Demographic",
    },
}


# --- legal bases --------------------------------------------------------------------------------

#: Why the sharing is lawful, in the learner's words, by the short id the API uses.
LEGAL_BASES: Final[dict[str, LegalBasis]] = {
    "consent": {
        "en": "This sharing happens only if you agree. You are free to say no.",
        "fr": "Ce partage n'a lieu que si vous êtes d'accord. Vous êtes libre de refuser.",
        "iri": DPV + "Consent",
    },
    "explicit-consent": {
        "en": "This sharing happens only if you clearly say yes yourself. You are free to say no.",
        "fr": "Ce partage n'a lieu que si vous dites clairement oui vous-même. "
        "Vous êtes libre de refuser.",
        "iri": DPV + "ExplicitlyExpressedConsent",
    },
    "public-task": {
        "en": "This sharing is needed for a public service mission given by law "
        "(GDPR, Article 6(1)(e)).",
        "fr": "Ce partage est nécessaire à une mission de service public confiée par la loi "
        "(RGPD, article 6, paragraphe 1, point e).",
        "iri": EU_GDPR + "A6-1-e",
    },
    "legitimate-interest": {
        "en": "This sharing is based on a legitimate interest of the organisations, "
        "weighed against your rights. You can object to it.",
        "fr": "Ce partage repose sur un intérêt légitime des organismes, mis en balance avec "
        "vos droits. Vous pouvez vous y opposer.",
        "iri": DPV + "LegitimateInterest",
    },
    "contract": {
        "en": "This sharing is needed to give you a service you signed up for.",
        "fr": "Ce partage est nécessaire pour vous fournir un service auquel vous avez souscrit.",
        "iri": DPV + "Contract",
    },
}

#: Legal bases under which the learner's yes is what makes the sharing lawful (and can be withdrawn).
CONSENT_BASES: Final = frozenset({"consent", "explicit-consent"})
