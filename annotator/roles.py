"""Role groups, as in the study: clinicians provide direct patient care by diagnosis, treatment and
prescribing (physicians, advanced practice providers, CNM, CNP, CNS, CRNA); everyone else,
registered nurses included, is a non-clinician."""

from __future__ import annotations

import re

CLINICIAN = "clinician"
NON_CLINICIAN = "non-clinician"

_CLINICIAN_PATTERN = re.compile(
    r"\b(physician(?! assistant to)|physician assistant|doctor|md|do|attending|hospitalist|resident|fellow|"
    r"surgeon|anesthesiologist|psychiatrist|pediatrician|nurse practitioner|np|pa|pa-c|app|"
    r"advanced practice|cnm|cnp|cns|crna|nurse midwife|midwife|clinical nurse specialist|"
    r"nurse anesthetist)\b",
    re.IGNORECASE,
)


def role_group(role: str | None) -> str | None:
    """'clinician', 'non-clinician', or None when the role is unknown."""
    if role is None or not str(role).strip():
        return None
    return CLINICIAN if _CLINICIAN_PATTERN.search(str(role)) else NON_CLINICIAN
