"""Every building block's tables, gathered on one metadata for Alembic."""

from dases.catalog import models as catalog_models  # noqa: F401
from dases.consent import models as consent_models  # noqa: F401
from dases.db import Base
from dases.governance import models as governance_models  # noqa: F401
from dases.identity import models as identity_models  # noqa: F401
from dases.interop import models as interop_models  # noqa: F401
from dases.ledger import models as ledger_models  # noqa: F401
from dases.lrs import models as lrs_models  # noqa: F401
from dases.negotiation import models as negotiation_models  # noqa: F401
from dases.privacy import models as privacy_models  # noqa: F401
from dases.registry import models as registry_models  # noqa: F401
from dases.transfer import models as transfer_models  # noqa: F401
from dases.web import models as web_models  # noqa: F401

metadata = Base.metadata
