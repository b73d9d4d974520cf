"""The OULAD tables split across data providers, and pooled back through the same interface.

Two ways a data space spreads the same learners over organisations:

- **by modules** (`split_by_modules`): each provider runs some of the modules and holds every
  table about them (its learners, registrations, assessment schedule and submissions). Pooling
  these gives a model more presentations to learn from than any provider has alone.
- **by kind of data** (`split_linked`): a registrar holds who registered when (demographics and
  registrations), an assessment service holds the schedule and the submissions. Neither can build
  the features alone; pooled, their rows link by the learner pseudonym.

A share is plain Ibis tables, so a provider can export it as Parquet (`export_share`) and the
consumer read it back (`read_share`): "local exports through the same interface" until the
transfer process carries them between connectors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import ibis

from dases.errors import InvalidInput
from dases.pooling.features import OuladTables, Pseudonymise, pseudonymise_tables

REGISTRAR = "registrar"
ASSESSOR = "assessor"


@dataclass(frozen=True)
class ProviderShare:
    """What one provider holds: its name, the modules it runs (empty: all), and its tables."""

    name: str
    modules: tuple[str, ...]
    tables: OuladTables

    def pseudonymised(self, pseudonymise: Pseudonymise) -> ProviderShare:
        """The share as it may leave the provider: raw learner ids replaced by pseudonyms."""
        return replace(self, tables=pseudonymise_tables(self.tables, pseudonymise))


def modules_of(tables: OuladTables) -> list[str]:
    """The modules the data describes (from the courses table)."""
    if tables.courses is None:
        raise InvalidInput("the courses table is needed to know the modules")
    column = tables.courses.select("code_module").distinct().to_pyarrow()["code_module"]
    return sorted(str(value) for value in column.to_pylist())


def one_provider_per_module(tables: OuladTables) -> dict[str, list[str]]:
    """The default split: each module run by its own provider, named `provider-<module>`."""
    return {f"provider-{module.lower()}": [module] for module in modules_of(tables)}


def parse_groups(specs: Iterable[str]) -> dict[str, list[str]]:
    """Read `NAME=MOD,MOD` provider specs (the CLI's `--provider` option) into a mapping."""
    groups: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, modules = spec.partition("=")
        chosen = [module.strip() for module in modules.split(",") if module.strip()]
        if not sep or not name.strip() or not chosen:
            raise InvalidInput(f"provider {spec!r}: expected NAME=MODULE[,MODULE...], e.g. north=AAA,BBB")
        if name.strip() in groups:
            raise InvalidInput(f"provider {name.strip()!r} is named twice")
        groups[name.strip()] = chosen
    return groups


def split_by_modules(tables: OuladTables, groups: Mapping[str, Sequence[str]]) -> list[ProviderShare]:
    """Give each provider the rows of its modules; every row goes to exactly one provider.

    Refused when a module of the data belongs to no provider or to two (a row would be lost or
    counted twice), or when a provider names a module the data does not have.
    """
    known = set(modules_of(tables))
    owner: dict[str, str] = {}
    for name, modules in groups.items():
        for module in modules:
            if module not in known:
                raise InvalidInput(f"provider {name!r}: no module {module!r} in the data (modules: {', '.join(sorted(known))})")
            if module in owner:
                raise InvalidInput(f"module {module!r} is given to both {owner[module]!r} and {name!r}")
            owner[module] = name
    orphans = sorted(known - owner.keys())
    if orphans:
        raise InvalidInput(f"modules {', '.join(orphans)} belong to no provider: every row must go to one")

    shares = []
    for name, modules in groups.items():
        chosen = list(modules)
        in_modules = {
            attribute: table.filter(table.code_module.isin(chosen))
            for attribute, table in tables.items()
            if "code_module" in table.columns
        }
        schedule = in_modules["assessments"]
        submissions = tables.submissions
        in_modules["submissions"] = submissions.filter(
            submissions.id_assessment.isin(schedule.select("id_assessment").id_assessment)
        )
        shares.append(ProviderShare(name, tuple(chosen), OuladTables(**in_modules)))
    return shares


def split_linked(tables: OuladTables) -> tuple[ProviderShare, ProviderShare]:
    """Registrations and demographics at a registrar; schedule and submissions at an assessor.

    Both hold the courses table (the list of presentations is public to both).
    """
    registrar = OuladTables(
        student_info=tables.student_info, registrations=tables.registrations, courses=tables.courses
    )
    assessor = OuladTables(
        assessments=tables.assessments, submissions=tables.submissions, courses=tables.courses
    )
    return ProviderShare(REGISTRAR, (), registrar), ProviderShare(ASSESSOR, (), assessor)


def pool(shares: Sequence[ProviderShare]) -> OuladTables:
    """Stack the providers' shares into one set of tables.

    Tables held by several providers are stacked; the courses table, which linked providers both
    hold in full, is de-duplicated. A table no provider holds stays None (features then refuse).
    """
    if not shares:
        raise InvalidInput("pooling needs at least one provider share")
    pooled = {}
    for field in fields(OuladTables):
        held = [getattr(share.tables, field.name) for share in shares if getattr(share.tables, field.name) is not None]
        if not held:
            continue
        stacked = held[0]
        for table in held[1:]:
            stacked = stacked.union(table, distinct=field.name == "courses")
        pooled[field.name] = stacked
    return OuladTables(**pooled)


def export_share(share: ProviderShare, directory: Path) -> list[Path]:
    """Write a share as one Parquet file per table under `directory/<provider>/`."""
    target = Path(directory) / share.name
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for attribute, table in share.tables.items():
        path = target / f"{attribute}.parquet"
        table.to_parquet(path)
        written.append(path)
    return written


def read_share(directory: Path, con: ibis.BaseBackend | None = None) -> ProviderShare:
    """Read back a share written by `export_share` (the provider's name is the folder's)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidInput(f"{directory} is not a provider share directory")
    con = con or ibis.duckdb.connect()
    names = {field.name for field in fields(OuladTables)}
    tables = {
        path.stem: con.read_parquet(path, table_name=f"{directory.name}_{path.stem}".replace("-", "_"))
        for path in sorted(directory.glob("*.parquet"))
        if path.stem in names
    }
    if not tables:
        raise InvalidInput(f"{directory} holds no table of a share")
    modules = sorted(
        {str(m) for table in tables.values() if "code_module" in table.columns
         for m in table.select("code_module").distinct().to_pyarrow()["code_module"].to_pylist()}
    )
    return ProviderShare(directory.name, tuple(modules), OuladTables(**tables))
