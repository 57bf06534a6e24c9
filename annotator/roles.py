"""Role groups, as in the study: clinicians provide direct patient care by diagnosis, treatment and
prescribing (physicians, advanced practice providers, CNM, CNP, CNS, CRNA); everyone else,
registered nurses included, is a non-clinician.

These rules only *propose* defaults: the role mapping table (``RoleMapping``, edited by an admin on
the Roles and roster page or as CSV; see ``annotator.services.roles``) decides, and a title nobody
has mapped yet uses the suggestion made here. The same module suggests a 2018 SOC major group from a
title's words. Imports nothing heavy.
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


ROLE_GROUPS = (CLINICIAN, NON_CLINICIAN)

# The 2018 Standard Occupational Classification major groups (U.S. Bureau of Labor Statistics).
SOC_MAJOR_GROUPS: dict[str, str] = {
    "11-0000": "Management Occupations",
    "13-0000": "Business and Financial Operations Occupations",
    "15-0000": "Computer and Mathematical Occupations",
    "17-0000": "Architecture and Engineering Occupations",
    "19-0000": "Life, Physical, and Social Science Occupations",
    "21-0000": "Community and Social Service Occupations",
    "23-0000": "Legal Occupations",
    "25-0000": "Educational Instruction and Library Occupations",
    "27-0000": "Arts, Design, Entertainment, Sports, and Media Occupations",
    "29-0000": "Healthcare Practitioners and Technical Occupations",
    "31-0000": "Healthcare Support Occupations",
    "33-0000": "Protective Service Occupations",
    "35-0000": "Food Preparation and Serving Related Occupations",
    "37-0000": "Building and Grounds Cleaning and Maintenance Occupations",
    "39-0000": "Personal Care and Service Occupations",
    "41-0000": "Sales and Related Occupations",
    "43-0000": "Office and Administrative Support Occupations",
    "45-0000": "Farming, Fishing, and Forestry Occupations",
    "47-0000": "Construction and Extraction Occupations",
    "49-0000": "Installation, Maintenance, and Repair Occupations",
    "51-0000": "Production Occupations",
    "53-0000": "Transportation and Material Moving Occupations",
    "55-0000": "Military Specific Occupations",
}

# Keyword rules for a suggested SOC major group, checked in order (the first match wins). Only a
# suggestion: an admin confirms or changes it on the Role mapping page. Notes on 2018 SOC: medical
# coders are "Medical Records Specialists" (29-2072), pharmacy technicians 29-2052, interpreters
# 27-3091, medical assistants 31-9092, child life specialists 21-1099.
_SOC_RULES: tuple[tuple[str, re.Pattern], ...] = tuple((code, re.compile(pattern)) for code, pattern in (
    ("29-0000", r"\b(coder|coding specialist|medical records|health information|pharmacy tech\w*|pharmacist|"
                r"physician(?! liaison)|surgeon|hospitalist|resident|fellow|nurse(?! (manager|director|recruiter))|"
                r"\brn\b|lpn|lvn|crna|cnm|cns|np|pa-c|therapist|technologist|dietitian|audiologist|"
                r"sonographer|radiograph\w*|paramedic|emt|optometrist|dentist|hygienist|psycholog\w*|"
                r"anesthesi\w*|midwife|clinician|respiratory|sleep tech\w*|lab tech\w*|phlebotomist)\b"),
    ("31-0000", r"\b(medical assistant|nursing assistant|cna|patient care tech\w*|care assistant|"
                r"aide|orderly|sterile processing)\b"),
    ("43-0000", r"\b(executive assistant|administrative assistant|office assistant|prior authorization|"
                r"authorization specialist|unit secretary)\b"),
    ("13-0000", r"\b(financial counselor|quality improvement|quality specialist|process improvement)\b"),
    ("21-0000", r"\b(social worker|case manager|care manager|counselor|chaplain|child life|"
                r"community health|patient navigator|health educator)\b"),
    ("23-0000", r"\b(attorney|lawyer|counsel|paralegal|legal|compliance officer)\b"),
    ("25-0000", r"\b(educator|teacher|instructor|librarian|professor|trainer|training)\b"),
    ("27-0000", r"\b(interpreter|translator|designer|photographer|writer|editor|communications|"
                r"marketing specialist|media)\b"),
    ("15-0000", r"\b(developer|programmer|software|it analyst|systems analyst|data analyst|data scientist|"
                r"statistician|database|network|information services|it specialist|epic analyst|analyst, it|"
                r"information technology|it support|help desk|cyber\w*)\b"),
    ("19-0000", r"\b(research scientist|scientist|research assistant|research coordinator|epidemiologist|"
                r"lab researcher|postdoc\w*)\b"),
    ("33-0000", r"\b(security officer|security guard|public safety)\b"),
    ("35-0000", r"\b(cook|chef|food service|dietary aide|nutrition aide|barista)\b"),
    ("37-0000", r"\b(environmental services|housekeep\w*|custodian|janitor|groundskeeper)\b"),
    ("49-0000", r"\b(biomedical equipment|maintenance tech\w*|mechanic|repair)\b"),
    ("53-0000", r"\b(driver|courier|transporter|patient transport)\b"),
    ("11-0000", r"\b(manager|director|chief|vice president|vp|executive|administrator|supervisor|head of|"
                r"officer)\b"),
    ("13-0000", r"\b(financial|finance|accountant|auditor|billing analyst|business analyst|buyer|"
                r"purchasing|human resources|hr|recruiter|benefits|payroll|credentialing|revenue cycle)\b"),
    ("43-0000", r"\b(assistant|secretary|receptionist|clerk|scheduler|scheduling|coordinator|"
                r"representative|registrar|admitting|front desk|office|unit secretary|billing|"
                r"dispatcher|operator|patient access|liaison)\b"),
))


def title_key(title: str | None) -> str:
    """The normalised form a job title is matched on (case, spacing and dots ignored); '' when blank."""
    return "" if title is None or not isinstance(title, str) else _key(title)


def suggest_soc(title: str | None) -> str | None:
    """A 2018 SOC major group code suggested from the job title's words, or None."""
    key = title_key(title)
    if not key:
        return None
    if key in _ALIASES:
        return "29-0000"
    for code, pattern in _SOC_RULES:
        if pattern.search(key):
            return code
    return None


def soc_label(code: str | None) -> str:
    """'43-0000 Office and Administrative Support Occupations', or 'unknown'."""
    return f"{code} {SOC_MAJOR_GROUPS[code]}" if code in SOC_MAJOR_GROUPS else "unknown"


def parse_soc(value: str | None) -> str | None:
    """A SOC major group code from '43-0000', '43', '43-1011' (a detailed code: its major group) or the
    group's title; None for blank. Raises ValueError for anything else."""
    text = " ".join(str(value or "").split())
    if not text:
        return None
    m = re.fullmatch(r"(\d{2})(?:-?\d{4})?(?:\s.*)?", text)
    if m and f"{m.group(1)}-0000" in SOC_MAJOR_GROUPS:
        return f"{m.group(1)}-0000"
    for code, name in SOC_MAJOR_GROUPS.items():
        if text.casefold() in (name.casefold(), name.casefold().removesuffix(" occupations")):
            return code
    raise ValueError(f"'{text[:60]}' is not a 2018 SOC major group; use a code like 43-0000 (see the Role mapping page)")


def parse_role_group(value: str | None) -> str | None:
    """'clinician' or 'non-clinician' (case and spacing ignored; 'nonclinician' accepted); None for blank."""
    text = "".join(str(value or "").split()).casefold().replace("_", "-")
    if not text or text in ("unknown", "none"):
        return None
    if text in ("clinician", "clinical"):
        return CLINICIAN
    if text in ("non-clinician", "nonclinician", "non-clinical", "nonclinical"):
        return NON_CLINICIAN
    raise ValueError(f"unknown role group '{str(value)[:60]}'; use clinician or non-clinician")
