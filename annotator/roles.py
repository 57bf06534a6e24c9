"""Role groups, as in the study: clinicians provide direct patient care by diagnosis, treatment and
prescribing (physicians, advanced practice providers, CNM, CNP, CNS, CRNA); everyone else,
registered nurses included, is a non-clinician.

The single source of truth for the mapping (imports, dashboards and the synthetic data use it).
Imports nothing heavy.
"""

from __future__ import annotations

import re

CLINICIAN = "clinician"
NON_CLINICIAN = "non-clinician"

_ALIASES = frozenset({
    "physician", "md", "do", "doctor", "attending", "attending physician", "resident", "resident physician",
    "fellow", "fellow physician", "hospitalist", "surgeon", "anesthesiologist", "psychiatrist", "pediatrician",
    "nurse practitioner", "np", "cnp", "certified nurse practitioner", "physician assistant", "pa", "pa-c",
    "advanced practice provider", "app", "certified nurse midwife", "nurse midwife", "cnm",
    "clinical nurse specialist", "cns", "certified registered nurse anesthetist", "crna", "nurse anesthetist",
})
# Titles that mention a clinician but describe a non-clinical job ("Physician Liaison").
_NON_CLINICAL = re.compile(
    r"\b(liaison|recruiter|recruitment|coordinator|scheduler|scheduling|billing|coder|coding|relations|"
    r"credentialing|secretary|office|services|referral|outreach|medical assistant|assistant to)\b")
_CLINICIAN = re.compile(
    r"\b(physician|md|do|attending|hospitalist|resident|fellow|surgeon|anesthesiologist|psychiatrist|"
    r"pediatrician|nurse practitioner|np|cnp|physician assistant|pa|pa-c|advanced practice|app|cnm|cns|crna|"
    r"midwife|clinical nurse specialist|nurse anesthetist)\b")


def _key(role: str) -> str:
    return " ".join(str(role).replace(".", "").split()).casefold()


def role_group(role: str | None) -> str | None:
    """'clinician', 'non-clinician', or None when the role is missing or blank."""
    if role is None or not isinstance(role, str):
        return None
    key = _key(role)
    if not key:
        return None
    if key in _ALIASES:
        return CLINICIAN
    if _NON_CLINICAL.search(key):
        return NON_CLINICIAN
    return CLINICIAN if _CLINICIAN.search(key) else NON_CLINICIAN
