"""Generalisation hierarchies for the learner attributes education data carries (the OULAD
studentInfo quasi-identifiers), declared as data in ARX's tabular form.

Each row: the original value, then its generalisation at level 1, 2, ...; the last level is
`*` (the attribute withheld). The groupings follow the attribute's meaning, not the counts:

- age band: under 35 / 35 and over;
- region: the Open University's thirteen regions -> English area (North, Midlands, South) or
  nation -> nation (England, Scotland, Wales, Ireland);
- IMD band (the deprivation decile of the learner's area): deciles -> quintiles -> halves;
  the unknown decile (`?`) stays unknown until withheld;
- highest education: below A level / A level / higher education;
- gender and disability: kept or withheld.
"""

from __future__ import annotations

from dases.privacy.anonymity import Hierarchy, hierarchies_from_data

OULAD_QUASI_IDENTIFIERS = ("gender", "region", "highest_education", "imd_band", "age_band", "disability")

OULAD_HIERARCHIES: dict[str, list[list[str]]] = {
    "gender": [["F", "*"], ["M", "*"]],
    "disability": [["N", "*"], ["Y", "*"]],
    "age_band": [
        ["0-35", "0-35", "*"],
        ["35-55", "35<=", "*"],
        ["55<=", "35<=", "*"],
    ],
    "region": [
        ["North Region", "England North", "England", "*"],
        ["North Western Region", "England North", "England", "*"],
        ["Yorkshire Region", "England North", "England", "*"],
        ["East Midlands Region", "England Midlands", "England", "*"],
        ["West Midlands Region", "England Midlands", "England", "*"],
        ["East Anglian Region", "England South", "England", "*"],
        ["London Region", "England South", "England", "*"],
        ["South East Region", "England South", "England", "*"],
        ["South Region", "England South", "England", "*"],
        ["South West Region", "England South", "England", "*"],
        ["Scotland", "Scotland", "Scotland", "*"],
        ["Wales", "Wales", "Wales", "*"],
        ["Ireland", "Ireland", "Ireland", "*"],
    ],
    "imd_band": [
        ["0-10%", "0-20%", "0-50%", "*"],
        ["10-20", "0-20%", "0-50%", "*"],  # sic: OULAD writes this decile without its %
        ["20-30%", "20-40%", "0-50%", "*"],
        ["30-40%", "20-40%", "0-50%", "*"],
        ["40-50%", "40-60%", "0-50%", "*"],
        ["50-60%", "40-60%", "50-100%", "*"],
        ["60-70%", "60-80%", "50-100%", "*"],
        ["70-80%", "60-80%", "50-100%", "*"],
        ["80-90%", "80-100%", "50-100%", "*"],
        ["90-100%", "80-100%", "50-100%", "*"],
        ["?", "?", "?", "*"],
    ],
    "highest_education": [
        ["No Formal quals", "Below A Level", "*"],
        ["Lower Than A Level", "Below A Level", "*"],
        ["A Level or Equivalent", "A Level or Equivalent", "*"],
        ["HE Qualification", "HE or above", "*"],
        ["Post Graduate Qualification", "HE or above", "*"],
    ],
}

#: final_result, worst to best, for t-closeness as an ordinal attribute.
OULAD_FINAL_RESULT_ORDER = ("Withdrawn", "Fail", "Pass", "Distinction")


def oulad_hierarchies() -> dict[str, Hierarchy]:
    return hierarchies_from_data(OULAD_HIERARCHIES)
