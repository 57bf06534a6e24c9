"""Seeded generator of synthetic chat threads, and the role -> role-group mapping.

Everything this module produces is invented: user ids, names ("Casey Testcase"),
record numbers ("SYN-004217"), payers ("Acme Health Plan") and phone numbers
(555-01xx) are obviously fake, and no text comes from a real conversation.

The generator imitates the study's published aggregates (the seed paper):
the category mix of its Figure 1, ~87.5% of threads from "frequent users"
(more than five threads; 26,691 of 30,503), ~98% non-clinician users, ~1.1% of
threads over 32,000 characters, usage growing over 2024-04-22 .. 2025-02-28 with
weekday and business-hour peaks, departments whose mix of categories differs
(Information Services codes, Interpreter Services translates, Revenue Cycle
writes prior-authorization letters), and some multi-intent and off-topic threads.

Column ``true_category`` is *synthetic ground truth*: the category the
generator intended for the thread's first prompt (its main intent). Real data
has no such column; it exists to test agreement statistics and to simulate
reviewers and a biased model.

``role_group`` and ``CLINICIAN_ROLES`` import nothing heavy (numpy and pandas
are imported inside the generating functions), so dashboards can use them
cheaply.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- #
# Public constants
# --------------------------------------------------------------------------- #

CATEGORIES: tuple[str, ...] = (
    "Email & Document Writing",
    "Text Manipulation",
    "Brainstorming",
    "Handle Information Requests",
    "Answer Medical Knowledge Questions",
    "Technical Support & IT Issues",
    "Patient-Provider Messaging",
    "Coding",
    "Process Referrals & Documents",
    "Generate Visual Aids",
    "Other",
)
"""The study's ten categories plus Other, in codebook (keyboard) order."""

CATEGORY_SHARES: dict[str, float] = dict(
    zip(CATEGORIES, (0.539, 0.091, 0.067, 0.061, 0.059, 0.044, 0.035, 0.026, 0.020, 0.008, 0.050))
)
"""Target share of threads per category (seed paper, Figure 1; Other is the 5.0% remainder)."""

CLINICIAN_ROLES: frozenset[str] = frozenset(
    {
        "Physician",
        "Nurse Practitioner",
        "Physician Assistant",
        "Certified Nurse Midwife",
        "Clinical Nurse Specialist",
        "Certified Registered Nurse Anesthetist",
    }
)
"""Roles the study counts as clinicians (physicians, APPs, CNM, CNP, CNS, CRNA); RNs are not."""

COLUMNS: tuple[str, ...] = (
    "thread_id", "text", "user_id", "role", "department", "created_at", "true_category"
)
FREQUENT_USER_MIN_THREADS = 6
"""A "frequent user" has more than five threads (seed paper, Sample Selection)."""
LONG_THREAD_CHARS = 32_000
"""Threads longer than this were truncated in the study (1.1% of threads)."""
EXCEL_CELL_LIMIT = 32_767
"""Maximum characters in one Excel cell; ``write_threads(fmt="xlsx")`` truncates to it."""
EXCEL_MAX_DATA_ROWS = 1_048_575
Format = Literal["csv", "jsonl", "parquet", "xlsx"]

OCCASIONAL_THREAD_SHARE = 1 - 26_691 / 30_503  # 0.125: threads from users with <= 5 threads
FREQUENT_USER_FRACTION = 0.40  # share of users who are frequent (study: 20.7% .. 43.7%)
CLINICIAN_USER_FRACTION = 0.02  # study: 98.0% of users with a role were non-clinicians
MULTI_INTENT_SHARE = 0.15  # of threads with two or more turns, the second turn changes topic
TURN_COUNT_P = (0.46, 0.24, 0.13, 0.08, 0.05, 0.04)  # P(1..6 user turns)
LOCAL_TZ = "America/Los_Angeles"

def role_group(role: str | None) -> str:
    """``"clinician"``, ``"non-clinician"`` or ``"unknown"`` (missing role), by :func:`annotator.roles.role_group`,
    the study's definition used everywhere in the app."""
    from annotator.roles import role_group as _group

    return _group(role) or "unknown"


# --------------------------------------------------------------------------- #
# Departments, roles and how departments lean towards categories
# --------------------------------------------------------------------------- #

(_E, _T, _B, _H, _M, _S, _P, _C, _R, _V, _O) = CATEGORIES

_CLINIC_ROLES = {
    "Medical Assistant": 3.0, "Registered Nurse": 3.0, "Scheduler": 2.0,
    "Patient Services Coordinator": 2.0, "Administrative Assistant": 1.5, "Manager": 0.5,
    "Dietitian": 0.3, "Social Worker": 0.3,
}
_CLINIC_LEAN = {_P: 2.0, _M: 1.5, _V: 1.5, _C: 0.3, _S: 0.6}
_OFFICE = {"Administrative Assistant": 2.0, "Manager": 1.0, "Director": 0.4}
_MD_APP = {"Physician": 0.5, "Nurse Practitioner": 0.3, "Physician Assistant": 0.2}

# name -> (user weight, non-clinician roles, clinician roles (or {}), category lean)
_DEPARTMENTS: dict[str, tuple[float, dict[str, float], dict[str, float], dict[str, float]]] = {
    "Revenue Cycle": (10, {"Prior Authorization Specialist": 4, "Billing Specialist": 4,
                           "Financial Counselor": 2, **_OFFICE}, {},
                      {_E: 1.5, _R: 2.5, _H: 1.2, _C: 0.3, _V: 0.2, _M: 0.7}),
    "Patient Access Center": (10, {"Patient Access Representative": 6, "Scheduler": 3, **_OFFICE},
                              {}, {_P: 3.0, _H: 2.0, _E: 1.1, _C: 0.2}),
    "Interpreter Services": (4, {"Interpreter": 8, **_OFFICE}, {},
                             {_T: 5.0, _P: 2.0, _C: 0.1, _S: 0.5}),
    "Information Services": (6, {"IT Analyst": 5, "Software Engineer": 3, "Data Analyst": 2,
                                 **_OFFICE}, {},
                             {_C: 9.0, _S: 6.0, _E: 0.6, _M: 0.2, _P: 0.2}),
    "Case Management": (5, {"Case Manager": 6, "Social Worker": 1, "Registered Nurse": 1.5,
                            **_OFFICE}, {}, {_R: 4.0, _E: 1.2, _P: 1.5}),
    "Research Administration": (4, {"Research Coordinator": 5, "Data Analyst": 1.5, **_OFFICE},
                                {}, {_B: 2.0, _C: 2.5, _H: 1.5, _T: 1.3}),
    "Clinical Education": (3, {"Clinical Educator": 5, "Registered Nurse": 1, **_OFFICE}, {},
                           {_B: 2.5, _V: 3.0, _M: 1.5}),
    "Human Resources": (3, {"Human Resources Partner": 5, **_OFFICE}, {},
                        {_E: 1.2, _B: 2.0, _H: 1.5, _M: 0.2}),
    "Finance": (3, {"Data Analyst": 3, "Billing Specialist": 1, **_OFFICE}, {},
                {_C: 2.5, _H: 1.5, _S: 1.2, _M: 0.1}),
    "Quality & Patient Safety": (2, {"Quality Improvement Specialist": 5, "Registered Nurse": 1,
                                     **_OFFICE}, {}, {_H: 1.8, _T: 1.5, _B: 1.3}),
    "Social Work": (3, {"Social Worker": 6, **_OFFICE}, {}, {_R: 2.5, _P: 2.0, _H: 1.5}),
    "Health Information Management": (3, {"Health Information Specialist": 6, **_OFFICE}, {},
                                      {_R: 3.0, _T: 1.8}),
    "Marketing & Communications": (2, {"Communications Specialist": 5, **_OFFICE}, {},
                                   {_B: 3.5, _V: 4.0, _T: 1.5, _M: 0.3}),
    "Supply Chain": (2, {"Buyer": 5, **_OFFICE}, {}, {_E: 1.2, _H: 1.5}),
    "Executive Office": (1.5, {"Executive Assistant": 4, "Director": 2, "Manager": 1}, {},
                         {_E: 1.3, _B: 1.5, _T: 1.2}),
    "Pharmacy": (3, {"Pharmacist": 4, "Pharmacy Technician": 4, **_OFFICE}, {},
                 {_M: 3.5, _H: 1.5}),
    "Cardiology Clinic": (3, _CLINIC_ROLES, _MD_APP, _CLINIC_LEAN),
    "Pediatric Dermatology Clinic": (2.5, _CLINIC_ROLES, _MD_APP,
                                     {**_CLINIC_LEAN, _V: 3.0, _P: 2.5}),
    "Pulmonary Clinic": (2.5, {**_CLINIC_ROLES, "Respiratory Therapist": 2}, _MD_APP, _CLINIC_LEAN),
    "Gastroenterology Clinic": (2.5, _CLINIC_ROLES, _MD_APP, _CLINIC_LEAN),
    "Neurology Clinic": (2.5, _CLINIC_ROLES, _MD_APP, _CLINIC_LEAN),
    "Orthopedic Surgery Clinic": (2.5, {**_CLINIC_ROLES, "Physical Therapist": 2}, _MD_APP,
                                  _CLINIC_LEAN),
    "Endocrinology Clinic": (2.5, {**_CLINIC_ROLES, "Dietitian": 1.5}, _MD_APP, _CLINIC_LEAN),
    "Hematology & Oncology Clinic": (3, _CLINIC_ROLES, _MD_APP, _CLINIC_LEAN),
    "General Pediatrics Clinic": (4, _CLINIC_ROLES, _MD_APP, _CLINIC_LEAN),
    "Emergency Department": (3, {"Registered Nurse": 5, "Patient Services Coordinator": 1,
                                 **_OFFICE}, _MD_APP, {_M: 2.5, _H: 1.3}),
    "Neonatal Intensive Care Unit": (2.5, {"Registered Nurse": 5, "Respiratory Therapist": 1,
                                           **_OFFICE},
                                     {"Nurse Practitioner": 0.5, "Clinical Nurse Specialist": 0.3,
                                      "Physician": 0.2}, {_M: 2.0, _P: 1.5}),
    "Labor & Delivery": (2, {"Registered Nurse": 5, **_OFFICE},
                         {"Certified Nurse Midwife": 0.6, "Physician": 0.4}, {_M: 2.0, _P: 1.5}),
    "Perioperative Services": (2, {"Registered Nurse": 4, "Scheduler": 1, **_OFFICE},
                               {"Certified Registered Nurse Anesthetist": 0.7, "Physician": 0.3},
                               {_M: 2.0, _P: 1.5}),
}
DEPARTMENTS: tuple[str, ...] = tuple(_DEPARTMENTS)
ROLES: tuple[str, ...] = tuple(
    sorted({r for _, nc, cl, _ in _DEPARTMENTS.values() for r in (*nc, *cl)})
)
_CLINICIAN_LEAN = {_M: 4.0, _P: 1.5, _E: 0.8}

# --------------------------------------------------------------------------- #
# Text: slot vocabularies, templates per category, follow-ups
# --------------------------------------------------------------------------- #

def _pair(slot: str, r: int, joiner: str) -> str:
    """Two different values of a list slot, chosen by one random integer."""
    vocab = _SLOTS[slot]
    a = r % len(vocab)
    b = (a + 1 + (r // len(vocab)) % (len(vocab) - 1)) % len(vocab)
    return f"{vocab[a]}{joiner}{vocab[b]}"


_SLOTS: dict[str, list[str] | Callable[[int], str]] = {
    "tone": ["professional", "friendly", "concise", "warm but firm", "formal", "empathetic",
             "upbeat", "neutral"],
    "recipient": ["my manager", "the clinic staff", "our front desk team", "the nursing team",
                  "new hires", "the IT help desk", "our department director", "a vendor",
                  "the scheduling team", "all physicians in the division", "the billing office",
                  "my coworkers"],
    "doc_topic": ["the new parking policy", "the holiday coverage schedule",
                  "updated badge access rules", "flu vaccine clinic dates",
                  "the EHR downtime next Tuesday", "mandatory compliance training",
                  "the move to the new building", "changes to the check-in process",
                  "the new fax number", "overtime approval rules", "the quarterly town hall",
                  "the updated dress code", "the return-to-office plan"],
    "reminder": ["timesheets are due Friday", "the fire drill is at 10 am tomorrow",
                 "badges must be visible at all times", "the break room fridge gets cleaned out "
                 "on Fridays", "annual training closes at the end of the month",
                 "PTO requests for December are due next week"],
    "patient": ["Casey Testcase", "Jordan Sample", "Alex Example", "Pat Placeholder",
                "Sam Synthetic", "María Ejemplo", "José Prueba", "Nguyễn Mẫu",
                "Renée Fictif", "Zoë Dummy"],
    "mrn": lambda r: f"SYN-{r % 1_000_000:06d}",
    "phone": lambda r: f"(650) 555-01{r % 100:02d}",
    "age": lambda r: str(1 + r % 17),
    "kg": lambda r: str(8 + r % 60),
    "days": lambda r: str((2, 3, 4, 5, 7, 10, 14)[r % 7]),
    "k": lambda r: str((3, 5, 8, 10, 12, 15, 20)[r % 7]),
    "words": lambda r: str((50, 75, 100, 150, 200)[r % 5]),
    "years": lambda r: str(2 + r % 18),
    "rows": lambda r: f"{(50, 120, 400, 900, 1500)[r % 5]},000",
    "minutes": lambda r: str((2, 5, 10, 15, 20, 30)[r % 6]),
    "time": lambda r: f"{8 + r % 9}:{(0, 15, 30, 45)[(r // 9) % 4]:02d}",
    "drug": ["Retacrit", "dupilumab", "omalizumab", "somatropin", "adalimumab",
             "levetiracetam", "ondansetron", "amoxicillin", "albuterol", "cetirizine",
             "methylphenidate", "insulin glargine", "oxcarbazepine", "valproic acid",
             "cenobamate", "polyethylene glycol"],
    "payer": ["Acme Health Plan", "Sample Mutual Insurance", "Placeholder Medicaid Plan",
              "Example PPO", "Demo Pharmacy Benefits Co.", "Fictional Care HMO"],
    "test": ["genetic panel testing", "monogenic hypertension evaluation testing", "a sleep study",
             "an MRI of the brain", "allergy testing", "an echocardiogram",
             "continuous glucose monitor supplies", "outpatient physical therapy"],
    "condition": ["RSV", "eczema", "asthma", "type 1 diabetes", "spider angioma", "croup",
                  "hand-foot-and-mouth disease", "iron deficiency anemia", "ADHD", "migraine",
                  "constipation", "bronchiolitis", "scoliosis", "celiac disease", "epilepsy",
                  "Kawasaki disease", "atopic dermatitis"],
    "two_drugs": lambda r: _pair("drug", r, " and "),
    "two_symptoms": lambda r: _pair("symptom", r, " as well as "),
    "symptom": ["abdominal pain", "constipation", "decreased appetite", "a rash on the trunk",
                "fatigue", "headache", "a persistent cough", "vomiting", "joint swelling",
                "night sweats", "wheezing", "irritability"],
    "lab": ["hemoglobin", "ferritin", "TSH", "creatinine", "ALT", "white blood cell count",
            "vitamin D", "HbA1c"],
    "infection": ["influenza", "RSV", "strep throat", "chickenpox", "pertussis", "norovirus",
                  "COVID-19", "measles"],
    "language": ["Spanish", "Vietnamese", "Mandarin Chinese", "Russian", "Tagalog", "Arabic",
                 "Korean", "Farsi", "Portuguese"],
    "spanish": ["¿Cuándo es la próxima cita de mi hijo?",
                "Necesito cambiar la cita del niño para el miércoles, por favor.",
                "Mi hija tiene fiebre desde anoche, ¿qué debo hacer?",
                "Gracias por su atención; la clínica está en el segundo piso.",
                "¿Dónde puedo estacionar cuando llegue al hospital?",
                "No entiendo la factura que recibí, ¿me pueden ayudar?",
                "Mi esposo no habla inglés, ¿hay un intérprete disponible?",
                "La farmacia dice que el seguro no cubre la medicina de mi niño."],
    "program": ["Excel", "Epic", "Outlook", "Teams", "SharePoint", "Power BI", "Zoom",
                "the VPN client", "Citrix", "OneDrive", "the badge printer software", "Word"],
    "error": ["error 0x80070005", "\"Access denied\"", "a blank white screen",
              "a certificate warning", "a spinning wheel that never stops",
              "\"Your session has expired\"", "\"Cannot connect to server\"",
              "a license activation error"],
    "it_task": ["set up an automatic reply", "map a shared drive", "change my default printer",
                "sync a SharePoint folder", "create a distribution list", "clear my cache",
                "set up multi-factor authentication", "recover a deleted email",
                "add a second monitor"],
    "lang": ["Python", "SQL", "R", "VBA", "JavaScript", "PowerShell"],
    "code_task": ["dedupe a list of appointment IDs", "parse a CSV of clinic volumes",
                  "count visits per month by department", "merge two Excel sheets on employee ID",
                  "rename 300 PDF files using a naming pattern",
                  "flag no-show appointments older than 90 days",
                  "send a summary email every Monday", "compute average wait time per clinic",
                  "split a full name column into first and last name"],
    "code_error": ["KeyError: 'visit_date'", "TypeError: 'NoneType' object is not iterable",
                   "ORA-00942: table or view does not exist",
                   "#VALUE! in every row", "Run-time error '1004'",
                   "SyntaxError: unexpected EOF while parsing",
                   "ValueError: time data '13/01/2025' does not match format"],
    "excel_task": ["counts how many appointments are in each week",
                   "returns the last non-empty value in a column",
                   "highlights duplicate MRNs", "looks up a department code from another sheet",
                   "calculates business days between referral and visit"],
    "sql": ["SELECT dept, COUNT(*) FROM appts WHERE status = 'NS' GROUP BY dept",
            "SELECT * FROM referrals r LEFT JOIN visits v ON r.id = v.referral_id "
            "WHERE v.id IS NULL",
            "SELECT provider, AVG(wait_minutes) FROM checkins GROUP BY provider ORDER BY 2 DESC"],
    "regex_target": ["synthetic MRNs like SYN-123456", "US phone numbers",
                     "dates written as MM/DD/YYYY", "email addresses ending in .org"],
    "metric": ["no-show rate", "average days to third next available appointment",
               "denial rate", "referral turnaround time", "patient satisfaction top-box score",
               "overtime hours per FTE"],
    "event": ["staff appreciation week", "a team retreat", "the annual safety fair",
              "a holiday potluck", "Nurses Week", "a wellness challenge", "a farewell party",
              "our volunteer day"],
    "named_thing": ["our new scheduling workgroup", "a staff newsletter", "the patient family "
                    "advisory council", "our quality improvement project", "the clinic mascot",
                    "a lunch-and-learn series"],
    "improve_area": ["phone wait times", "check-in flow", "team morale", "referral backlog",
                     "onboarding of new staff", "handoffs between shifts"],
    "training_topic": ["customer service", "de-escalation", "using the new fax system",
                       "privacy basics", "time management", "giving feedback"],
    "campaign": ["hand hygiene", "flu shots for staff", "our sun safety campaign",
                 "the employee giving drive", "recycling in the cafeteria"],
    "admin_term_a": ["a prior authorization", "a copay", "an ABN", "place of service 11",
                     "an observation stay", "a modifier 25"],
    "admin_term_b": ["a referral", "coinsurance", "a waiver", "place of service 22",
                     "an inpatient admission", "a modifier 59"],
    "abbrev": ["PRN", "NPO", "AMA", "DME", "EOB", "SNF", "LOS", "PCP"],
    "regulation_topic": ["telehealth billing", "interpreter requirements",
                         "record retention", "price transparency", "the No Surprises Act"],
    "procedure": ["a flu shot", "a 30-minute telehealth visit", "an allergy skin test",
                  "a developmental screening", "removing sutures"],
    "hipaa_topic": ["leaving voicemails for families", "texting with patients",
                    "sharing records with schools", "emailing a parent of a teenager"],
    "process": ["the insurance appeals process", "charity care applications",
                "the credentialing process", "interpreter scheduling",
                "the hospital's capital budget cycle"],
    "parent_question": ["whether their child can go back to school", "how to refill a "
                        "prescription", "why the appointment was cancelled",
                        "what time to stop eating before the procedure",
                        "how long results usually take"],
    "result_msg": ["the lab results are normal", "the x-ray showed no fracture",
                   "the prescription was sent to the pharmacy",
                   "the prior authorization was approved"],
    "complaint": ["a long wait in clinic", "a billing error", "being put on hold",
                  "a cancelled appointment", "parking fees"],
    "portal_msg": ["Hi, my son still has a cough after finishing the antibiotics, is that normal?",
                   "Can I get a copy of the vaccine record for camp?",
                   "We are running 15 minutes late, is that ok?",
                   "Can the doctor fill out the school medication form?"],
    "coverage": ["Dr. Example's partner will see them", "we can offer a video visit instead",
                 "the nurse line can help until Monday"],
    "callback_topic": ["rescheduling the sleep study", "the insurance question",
                       "missing forms", "the medication refill"],
    "reason": ["the provider is ill", "the MRI machine is down", "of a scheduling error",
               "the clinic is closing early for weather"],
    "child_q": ["a sibling can come to the appointment", "they need to bring the inhaler",
                "the visit can be done by video"],
    "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    "clinic": [d for d in _DEPARTMENTS if d.endswith("Clinic")],
    "role_title": ["medical assistant", "scheduler", "case manager", "interpreter",
                   "patient access representative", "data analyst", "clinical educator"],
    "perf": ["consistently exceeds call targets", "needs to improve punctuality",
             "led the new check-in project", "mentors new hires"],
    "thanks_reason": ["covering my shifts", "organizing the potluck",
                      "helping with the audit", "staying late during the downtime"],
    "facility": ["Example Community Hospital", "Sample Valley Medical Group",
                 "Placeholder Children's Clinic", "Demo County Health Center",
                 "Fictional Rehab Institute"],
    "doc_name": ["Dr. Example", "Dr. Placeholder", "Dr. Sample", "Dr. Testwell", "Dra. Ejemplo"],
    "image_subject": ["a smiling cartoon tooth", "kids washing their hands",
                      "a friendly robot nurse", "a rainbow over the hospital",
                      "a bear wearing a stethoscope", "a family reading together"],
    "edu_topic": ["how to use an inhaler", "sun safety", "what happens during an MRI",
                  "healthy snacks", "how germs spread", "caring for a cast",
                  "what a spider angioma is"],
    "diagram": ["our referral workflow", "the check-in process", "how insulin works",
                "the org chart for our department", "the phases of wound healing"],
    "procedure_kid": ["a blood draw", "an MRI", "surgery day", "an allergy test"],
    "animal": ["giraffe", "penguin", "otter", "koala", "octopus", "dog"],
    "chart_cmp": ["monthly visit volumes for three clinics", "sugar in common drinks",
                  "staffing levels by shift"],
    "stock": ["tesla", "apple", "nvidia", "amazon", "bitcoin"],
    "dish": ["vegetarian lasagna", "tamales", "crème brûlée", "pho", "chicken tikka masala",
             "a quick weeknight dinner"],
    "place": ["Yosemite", "Lake Tahoe", "Oaxaca", "Kyoto", "Lisbon", "Maui"],
    "relative": ["mom", "best friend", "coworker", "brother", "grandmother"],
    "sport_event": ["Super Bowl last year", "World Series", "last night's Warriors game"],
    "pet": ["new kitten", "golden retriever puppy", "bearded dragon"],
    "ingredients": ["pollo, arroz y frijoles", "huevos y tortillas", "plátanos maduros"],
    "zodiac": ["Leo", "Pisces", "Gemini", "Scorpio"],
    "theme": ["hospital", "Star Wars", "pun", "80s movie"],
    "followup_add": ["parking", "the new phone number", "our holiday hours", "masking"],
}

_SENTENCES_ADMIN = [
    "Starting next month, all staff must badge in at the east entrance before 7 am.",
    "the team agreed that the backlog of faxed referrals needs to be cleared by Friday",
    "Please note that overtime must be approved by your supervisor in advance.",
    "We discussed moving the weekly huddle to Tuesdays at 8:30.",
    "Action item: Jordan will update the phone tree and send it out for review.",
    "Our clinic saw 412 visits last month, up from 365 the month before.",
    "The new fax number goes live on the first of the month; the old one forwards for 30 days.",
    "Staff are reminded that personal devices may not be used to photograph documents.",
    "there was concern that the check in process takes to long for families with interpreters",
    "Volunteers are needed for the health fair booth on Saturday morning.",
    "The audit found that 14% of charts were missing a signed consent form.",
    "Holiday coverage requests will be approved in the order they are received.",
    "Parking in lot C will close for repaving during the week of the 18th.",
    "Leadership thanked everyone for their flexibility during the EHR upgrade.",
    "New hires should complete the privacy module before their first shift.",
    "The café will offer a discount for staff during appreciation week — ¡gracias a todos!",
    "We recieved several complaints about hold times on the main scheduling line.",
    "Supply orders must be submitted by noon on Wednesdays to arrive the same week.",
    "The pilot reduced no-shows from 11% to 8% over three months.",
    "Team members asked for clearer guidance on when to escalate billing questions.",
]
_SENTENCES_INSTR = [
    "Give your child the medicine with food twice a day.",
    "Keep the skin moisturized with a fragrance-free cream after bathing.",
    "Call the clinic if the fever is over 102°F for more than two days.",
    "Do not eat or drink anything after midnight before the procedure.",
    "Bring your insurance card and a list of current medicines to the visit.",
    "Use the inhaler with the spacer and rinse the mouth afterwards.",
    "Check in at the front desk on the second floor 15 minutes early.",
    "Apply sunscreen every two hours when outdoors, even on cloudy days.",
    "The cast must stay dry; cover it with a plastic bag when showering.",
    "Results are usually available in the patient portal within three business days.",
    "An interpreter is available at no cost; please ask when you schedule.",
    "Watch for signs of dehydration such as fewer wet diapers or a dry mouth.",
]
_SENTENCES_NOTE = [
    "The patient is a school-age child with a history of asthma and two ED visits this year.",
    "Family reports difficulty getting to appointments because of transportation.",
    "Insurance denied the initial request citing lack of documentation of prior therapies.",
    "The care team recommends outpatient follow-up in two weeks.",
    "Parent prefers communication in Spanish; an interpreter was used for this visit.",
    "Home health services were requested but the agency has a waitlist.",
    "Previous treatments included topical steroids and antihistamines without improvement.",
    "Social work is assisting the family with a housing application.",
    "Durable medical equipment order is pending signature.",
    "The referring office faxed only the first page of the records.",
]
_SENTENCES_STORY = [
    "The dragon looked down at the tiny village and sighed.",
    "Chapter seven began on a rainy Tuesday in a city that never slept.",
    "Nobody expected the cat to win the election, least of all the cat.",
    "She opened the letter, and the smell of cinnamon filled the room.",
    "Far away, a lighthouse blinked its slow, patient message into the fog.",
    "Él sonrió y dijo que el viaje apenas comenzaba.",
]
_LOG_LINES = [
    "2025-01-14 03:12:55 ERROR etl.load_visits: duplicate key value violates unique "
    "constraint \"visit_pkey\" (row 1837)",
    "2025-01-14 03:12:56 WARN  etl.load_visits: 212 rows skipped, null department code",
    "2025-01-14 03:13:02 INFO  scheduler: job nightly_referrals finished in 431.2 s",
    "Traceback (most recent call last): File \"report.py\", line 88, in <module> "
    "df = pd.read_excel(path) ValueError: Excel file format cannot be determined",
    "2025-01-14 03:14:10 ERROR smtp: connection refused by mail-relay.example.org:25",
    "2025-01-14 03:14:11 DEBUG auth: token refresh for svc_reporting succeeded",
    "Event ID 1001: Application Error, faulting module name: ntdll.dll, exception code "
    "0xc0000374",
]

_FIRST: dict[str, list[str]] = {
    _E: [
        "Write a {tone} email to {recipient} about {doc_topic}.",
        "Can you draft an email reminding {recipient} that {reminder}?",
        "Write a letter of medical necessity for {patient} (MRN {mrn}) to get {test} covered "
        "by {payer}.",
        "write letter for appeal to {payer} to approve {drug} for patient.",
        "Draft a prior authorization request for {drug} for a {age}-year-old with {condition}. "
        "Payer is {payer}.",
        "Help me reply to this email and keep it {tone}: {para}",
        "Please write a memo to {recipient} announcing {doc_topic}, effective {weekday}.",
        "Create a job description for a {role_title} in our {dept}.",
        "Write meeting minutes from these notes: {para}",
        "Write a thank-you note to {recipient} for {thanks_reason}.",
        "I need a cover letter for a {role_title} position. I have {years} years of experience "
        "working in the {dept}.",
        "Draft a policy on {doc_topic} for {dept} with purpose, scope and procedure sections.",
        "Write an out-of-office message: I'm away until {weekday}, contact {recipient} for "
        "anything urgent.",
        "Write a performance review summary for a {role_title} who {perf}.",
        "Write an email to {recipient} explaining that {doc_topic} is delayed, and apologize.",
        "Can you write a letter to the school explaining that {patient} needs accommodations "
        "for {condition}?",
        "please help me write a brief summary of what {condition} is for families in our "
        "{clinic}",
    ],
    _T: [
        "Fix the grammar and spelling in this: {para}",
        "Summarize this in 3 bullet points: {para}",
        "Make this sound more {tone}: {para}",
        "Shorten this to under {words} words: {para}",
        "Translate into {language}: {instr}",
        "Traduce al inglés, por favor: {spanish}",
        "Translate this message from a parent into English: {spanish}",
        "Rewrite this at a 6th grade reading level: {instr}",
        "Turn these notes into a table with columns for date, owner and action: {para}",
        "Paraphrase this paragraph: {para}",
        "Proofread: {para}",
        "Can you reformat this as a numbered list? {instr}",
        "Put this into plain language for families: {note}",
        "Remove the jargon from this and keep it under {words} words: {note}",
    ],
    _B: [
        "Give me {k} ideas for {event}.",
        "ask me questions to better generate a script for our schedulers to inform families of "
        "our wait times before scheduling.",
        "What are some creative names for {named_thing}?",
        "Brainstorm ways to improve {improve_area} in the {dept}.",
        "Help me come up with icebreaker questions for {event}.",
        "What are some themes for {event}?",
        "Suggest agenda topics for a planning meeting with {recipient}.",
        "I'm planning a training on {training_topic}; what activities would keep people engaged?",
        "List pros and cons of moving {doc_topic} to next quarter.",
        "Give me slogan ideas for {campaign}.",
        "What questions should I ask candidates interviewing for a {role_title} position?",
        "Help me think through how to reduce {improve_area} problems at the front desk.",
    ],
    _H: [
        "What is the difference between {admin_term_a} and {admin_term_b}?",
        "What does the abbreviation {abbrev} mean in a hospital setting?",
        "Explain what {admin_term_a} means for our billing team.",
        "What are the rules on {regulation_topic}?",
        "What is the ICD-10 code for {condition}?",
        "What is the CPT code for {procedure}?",
        "How do I calculate {metric} for our clinic?",
        "What are the HIPAA rules about {hipaa_topic}?",
        "Give me an overview of how {process} works.",
        "What is a good benchmark for {metric} in an outpatient clinic?",
        "How many PTO hours do I accrue per pay period if I work {k} hours a week at 0.9 FTE?",
        "Which payers usually require {admin_term_a} for {test}?",
    ],
    _M: [
        "What are the symptoms for {condition}?",
        "What is the usual pediatric dose of {drug}?",
        "Patient taking {two_drugs}. Presents with {two_symptoms}. What is the differential "
        "diagnosis?",
        "Is it safe to give {two_drugs} together?",
        "What are the common side effects of {drug}?",
        "How is {condition} diagnosed in children?",
        "What is a normal {lab} for a {age}-year-old?",
        "When should a child with {condition} go to the ER?",
        "What's the incubation period for {infection}?",
        "Explain the mechanism of action of {drug}.",
        "What is the first-line treatment for {condition}?",
        "Can {condition} cause {symptom}?",
        "{age} yo with {symptom} for {days} days, temp 101.5°F. What should we consider?",
    ],
    _S: [
        "My {program} keeps showing {error}. How do I fix it?",
        "How do I {it_task} in {program}?",
        "I can't log in to {program} after the password reset, what should I try?",
        "The printer in the {dept} prints blank pages. Any ideas?",
        "{program} is really slow on my workstation, what can I check?",
        "How do I share my screen in Teams with sound?",
        "My headset isn't working on Zoom calls but works in Teams.",
        "How do I recover an unsaved Word document?",
        "How do I add a shared mailbox in Outlook on a Mac?",
        "Excel crashes when I open a file with {rows} rows. What can I do?",
        "Why does the VPN disconnect every {minutes} minutes?",
        "How do I {it_task} on my work phone?",
    ],
    _P: [
        "Help me reply to a parent asking {parent_question}.",
        "Write a portal message to {patient}'s family letting them know {result_msg}.",
        "Draft a response to a parent who is upset about {complaint}.",
        "Write a text reminder for families about their appointment on {weekday} at {time} in "
        "the {clinic}.",
        "How should I respond to this portal message: \"{portal_msg}\"",
        "Write a message to a family explaining that the doctor is out and {coverage}.",
        "Responde a esta familia en español: {spanish}",
        "Write a voicemail script to call back {patient}'s parent about {callback_topic}.",
        "Draft a message to the family of {patient} (MRN {mrn}) saying the referral to the "
        "{clinic} was received.",
        "Write a kind message telling a family we need to reschedule because {reason}.",
        "Reply to a parent who asks whether {child_q}.",
        "Write a message asking the family to complete the pre-visit questionnaire before "
        "{weekday}.",
    ],
    _C: [
        "Write a {lang} script to {code_task}.",
        "Write an Excel formula that {excel_task}.",
        "Why does this SQL return duplicates? {sql}",
        "Fix this {lang} error: {code_error}",
        "How do I write a VBA macro that {excel_task}?",
        "Convert this SQL query to pandas: {sql}",
        "Write a regex that matches {regex_target}.",
        "Write a Power BI DAX measure for {metric}.",
        "Optimize this query, it takes {minutes} minutes: {sql}",
        "Write unit tests for a {lang} function that should {code_task}.",
        "Explain this error in plain words and how to fix it: {code_error}",
    ],
    _R: [
        "Extract the patient name, referring provider and reason for referral from this fax: "
        "{referral}",
        "Summarize this referral for triage: {referral}",
        "Which specialty should this referral go to? {referral}",
        "Create a checklist for processing incoming referrals to the {clinic}.",
        "Fill out the discharge planning form from these notes: {note}",
        "What documents do I need to send to {payer} for {test} authorization?",
        "Is this referral complete? {referral}",
        "Write a care coordination plan for transferring {patient} to {facility}.",
        "Draft a fax cover sheet sending records for {patient} (MRN {mrn}) to {facility}.",
        "Summarize this case for the care conference: {note}",
        "Sort these referrals by urgency: {referral} / {referral}",
    ],
    _V: [
        "Create an image of {image_subject} for our {clinic} waiting room.",
        "Make an infographic explaining {edu_topic} for families.",
        "Generate a cartoon of {image_subject} to help kids understand {edu_topic}.",
        "Design a flyer for {event}.",
        "Can you draw a diagram showing {diagram}?",
        "Create a visual schedule with pictures for a child preparing for {procedure_kid}.",
        "Make a poster about {edu_topic} with simple pictures.",
        "Generate a logo for {named_thing}.",
        "Create a picture of a friendly {animal} doctor for our clinic newsletter.",
        "Make a chart comparing {chart_cmp}.",
    ],
    _O: [
        "guess that baby shower game tagline",
        "can i know the price of the stock {stock} 2025?",
        "what is a good joke for today?",
        "Give me a recipe for {dish}.",
        "Plan a {days}-day trip to {place}.",
        "Write a birthday poem for my {relative}.",
        "Who won the {sport_event}?",
        "Help me name my {pet}.",
        "What should I watch this weekend?",
        "¿Qué puedo cocinar con {ingredients}?",
        "Write a funny toast for my {relative}'s wedding 🎉",
        "What's my horoscope for {zodiac}?",
        "Fantasy football team name ideas with a {theme} theme",
        "hello",
        "Tell me a fun fact about {animal}s.",
    ],
}

_FOLLOW: dict[str, list[str]] = {
    _E: ["Add that the deadline is {weekday}.", "Sign it from the {dept} team.",
         "Include the diagnosis and the date of the last visit.",
         "Mention that we already tried {drug} without improvement.",
         "Give it a clearer subject line."],
    _T: ["Now do the same for this one: {para}", "Keep the meaning but use fewer words.",
         "Use bullet points instead.", "Please keep the medical terms in English."],
    _B: ["Give me {k} more.", "Which one would you pick?", "More fun and less corporate please.",
         "Ask me one question at a time."],
    _H: ["Where can I find that in writing?", "What about for {payer}?",
         "Is that still true in 2025?", "Can you give an example?"],
    _M: ["What about in infants?", "And the dose for a {age}-year-old weighing {kg} kg?",
         "What labs should be ordered?", "Are there any red flags?"],
    _S: ["I tried restarting and it still doesn't work.", "Now it says {error}.",
         "I don't have admin rights, what else can I do?", "That worked, thanks!"],
    _P: ["Make it warmer, the family is anxious.", "Add that they can call {phone} with questions.",
         "Please also write it in Spanish.", "Shorter, it's a text message."],
    _C: ["Now it says {code_error}", "Can you add comments?", "How do I run this on a schedule?",
         "It works but it's slow on {rows} rows."],
    _R: ["Now put it in the referral template format.", "Flag anything missing.",
         "Who do I route it to if insurance is {payer}?"],
    _V: ["Make it more colorful.", "Add our clinic name at the top.", "Less text, more pictures.",
         "Can you make the characters look more diverse?"],
    _O: ["another one", "lol that's great", "ok one more but funnier", "what about {stock}?"],
}
_DETAIL: dict[str, list[str]] = {
    _E: ["Here is some background: {para}", "Key points to include: {para}",
         "Clinical details: {note}", "Use a {tone} tone and sign it from the {dept} team.",
         "It should fit on one page and mention {reminder}.", "Patient summary: {note}"],
    _T: ["Keep the formatting simple.", "This is going to {recipient}.",
         "Don't change the meaning, just the wording."],
    _B: ["Our team is about {k} people in the {dept}.", "Budget is small, around $200.",
         "Context: {para}", "The audience is {recipient}."],
    _H: ["I work in the {dept} and get asked this a lot.", "Please cite the source if you can.",
         "Background: {para}"],
    _M: ["Background: {note}", "The family asked me and I want to be sure before I answer.",
         "Please keep it brief."],
    _S: ["I'm on a shared workstation in the {dept}.", "It started after the update on "
         "{weekday}.", "I already restarted twice and cleared the cache."],
    _P: ["Keep it at a 6th grade reading level.", "Include the clinic number {phone}.",
         "Here is what the parent wrote before: {instr}"],
    _C: ["The data has about {rows} rows.", "I'm not a programmer, please explain each step.",
         "Columns are MRN, dept, visit_date, provider, status."],
    _R: ["We get about {k} of these a day.", "Notes: {note}", "Insurance is {payer}."],
    _V: ["Use bright colors and very little text.", "It's for {recipient}.",
         "Include the text: {instr}"],
    _O: ["lol", "Make it funny.", "for my group chat"],
}
_DETAIL_P = 0.55  # chance that a first prompt carries each of up to two extra details
_GENERIC_FOLLOW = [
    "make it shorter", "Can you make it more {tone}?", "thanks!", "Add a bullet list at the end.",
    "Perfect, thank you", "Can you give me another version?", "less formal please",
    "Make it sound less robotic.", "Put that in a table.", "Can you translate that into Spanish?",
    "Remove the last paragraph.", "ok now make it about half as long",
    "Add a sentence about {followup_add}.",
]
_LONG_INTRO: dict[str, str] = {
    _E: "Turn this policy document into an email to all staff:",
    _T: "Summarize the following document in 5 bullet points:",
    _B: "Here is all the free-text feedback from our staff survey, give me themes and ideas:",
    _H: "Extract every deadline and requirement from this contract:",
    _M: "Based on this guideline excerpt, what is the recommended approach?",
    _S: "My computer keeps crashing, here is the full event log:",
    _P: "Here are all the portal messages from this week, draft replies:",
    _C: "Why is this job failing? Full log below:",
    _R: "Sort and summarize these faxed referral notes:",
    _V: "Make an infographic out of this handout:",
    _O: "Here is my story so far, please continue it:",
}
_LONG_POOL = {_C: "log", _S: "log", _O: "story", _M: "note", _R: "note", _P: "instr", _V: "instr"}

_FIELD = re.compile(r"\{(\w+)\}")
_MAX_SLOTS = 6
_DYNAMIC_SLOTS = ("para", "instr", "note", "referral", "dept")
_Compiled = tuple[tuple[str, ...], tuple[str, ...]]


def _compile(template: str) -> _Compiled:
    """Split a template into literal parts and slot names; reject unknown slots."""
    parts = _FIELD.split(template)
    literals, slots = tuple(parts[0::2]), tuple(parts[1::2])
    unknown = [s for s in slots if s not in _SLOTS and s not in _DYNAMIC_SLOTS]
    if unknown or len(slots) > _MAX_SLOTS:
        raise ValueError(f"bad template {template!r}: unknown slots {unknown} or too many")
    return literals, slots


_FIRST_C = {c: [_compile(t) for t in ts] for c, ts in _FIRST.items()}
_FOLLOW_C = {c: [_compile(t) for t in ts] for c, ts in _FOLLOW.items()}
_GENERIC_C = [_compile(t) for t in _GENERIC_FOLLOW]
_DETAIL_C = {c: [_compile(t) for t in ts] for c, ts in _DETAIL.items()}


def _fill(compiled: _Compiled, rands: list[int], slots: dict, dept: str) -> str:
    """Fill a compiled template; slot j uses ``rands[j + 1]``; ``{dept}`` is the user's own.

    "a" before a slot becomes "an" when the value starts with a vowel sound.
    """
    literals, names = compiled
    out = [literals[0]]
    for j, name in enumerate(names):
        if name == "dept":
            value = dept
        else:
            vocab = slots[name]
            r = rands[j + 1]
            value = vocab(r) if callable(vocab) else vocab[r % len(vocab)]
        prev = out[-1]
        if (prev.endswith(" a ") or prev == "a ") and _needs_an(value):
            out[-1] = prev[:-2] + "an "
        out.append(value)
        out.append(literals[j + 1])
    return "".join(out)


def _needs_an(word: str) -> bool:
    return word[:1] in "aeiouAEIOU8" or word.startswith(("11", "18")) or word == "R"


# --------------------------------------------------------------------------- #
# The generator
# --------------------------------------------------------------------------- #


def generate_threads(
    n: int,
    *,
    seed: int,
    start: str | date = "2024-04-22",
    end: str | date = "2025-02-28",
    long_share: float = 0.011,
    chunk_size: int = 20_000,
) -> Iterator[pd.DataFrame]:
    """Yield ``n`` synthetic threads as DataFrames of at most ``chunk_size`` rows.

    Columns are ``COLUMNS``: ``thread_id`` ("T0000001", in time order), ``text``
    (one ``"user: ..."`` line per prompt, 1-6 prompts), ``user_id``, ``role``,
    ``department``, ``created_at`` (tz-aware UTC; local dates ``start`` ..
    ``end`` inclusive in America/Los_Angeles) and ``true_category`` (synthetic
    ground truth: the intent of the first prompt).

    The output is a pure function of ``(n, seed, start, end, long_share,
    chunk_size)``. Exactly ``round(long_share * n)`` threads exceed 32,000
    characters. Memory: text is held one chunk at a time; per-thread user
    indices (4 bytes a thread) and per-user attributes are held for the whole run.
    """
    import numpy as np
    import pandas as pd

    n, chunk_size = int(n), int(chunk_size)
    if n < 0 or chunk_size < 1:
        raise ValueError(f"need n >= 0 and chunk_size >= 1, got n={n}, chunk_size={chunk_size}")
    if not 0.0 <= long_share < 1.0:
        raise ValueError(f"long_share must be in [0, 1), got {long_share}")
    first_day, last_day = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if last_day < first_day:
        raise ValueError(f"end {end} is before start {start}")
    if n == 0:
        return

    rng = np.random.default_rng([seed, 0])
    users = _make_users(n, rng)
    thread_user = rng.permutation(np.repeat(np.arange(len(users["counts"]), dtype=np.int32),
                                            users["counts"]))
    cat_cdf = _category_cdf(users)
    bins = _time_bins(first_day, last_day)
    pools = _make_pools(rng)
    slots = {**_SLOTS, **pools}
    id_width = max(7, len(str(n)))
    user_width = max(5, len(str(len(users["counts"]))))
    global_p = np.array([CATEGORY_SHARES[c] for c in CATEGORIES])

    for chunk_no, lo in enumerate(range(0, n, chunk_size)):
        hi = min(n, lo + chunk_size)
        crng = np.random.default_rng([seed, 1, chunk_no])
        m = hi - lo
        uidx = thread_user[lo:hi]
        group = users["group"][uidx]
        cats = (crng.random(m)[:, None] > cat_cdf[group]).sum(axis=1)
        cats = np.minimum(cats, len(CATEGORIES) - 1)
        turns = 1 + (crng.random(m)[:, None] > np.cumsum(TURN_COUNT_P)[:-1]).sum(axis=1)
        multi = (turns >= 2) & (crng.random(m) < MULTI_INTENT_SHARE)
        second = crng.choice(len(CATEGORIES), size=m, p=global_p)
        clash = second == cats
        second[clash] = (cats[clash] + 1 + crng.integers(0, len(CATEGORIES) - 1, clash.sum())) \
            % len(CATEGORIES)
        n_long = round(long_share * hi) - round(long_share * lo)
        long_rows = _pick_long_rows(cats, n_long, crng)
        rands = crng.integers(0, 2**31, size=(int(turns.sum()), _MAX_SLOTS + 3)).tolist()
        depts = users["dept"][uidx]
        texts = _texts(cats, turns, multi, second, long_rows, rands, slots, depts.tolist())
        created = _timestamps(lo, hi, n, bins, crng)
        yield pd.DataFrame(
            {
                "thread_id": [f"T{i:0{id_width}d}" for i in range(lo + 1, hi + 1)],
                "text": texts,
                "user_id": [f"U{u + 1:0{user_width}d}" for u in uidx.tolist()],
                "role": users["role"][uidx],
                "department": depts,
                "created_at": created,
                "true_category": np.array(CATEGORIES, dtype=object)[cats],
            },
            columns=list(COLUMNS),
        )


def _make_users(n: int, rng: np.random.Generator) -> dict:
    """Per-user thread counts, department, role and group (department x clinician)."""
    import numpy as np

    occ_threads = round(OCCASIONAL_THREAD_SHARE * n)
    if n - occ_threads < FREQUENT_USER_MIN_THREADS:
        occ_threads = n
    # occasional users: 1-5 threads each, mostly one or two
    draws = 1 + (rng.random(max(occ_threads, 1))[:, None]
                 > np.cumsum([0.42, 0.24, 0.15, 0.11])).sum(axis=1)
    cum = np.cumsum(draws)
    k = int(np.searchsorted(cum, occ_threads)) + 1 if occ_threads else 0
    occ = draws[:k].copy()
    if k:
        occ[-1] -= cum[k - 1] - occ_threads
    freq_threads = n - occ_threads
    n_freq = 0
    if freq_threads:
        n_freq = round(len(occ) * FREQUENT_USER_FRACTION / (1 - FREQUENT_USER_FRACTION))
        n_freq = int(min(max(n_freq, 1), freq_threads // FREQUENT_USER_MIN_THREADS))
    weights = rng.lognormal(0.0, 1.3, n_freq)
    extra = rng.multinomial(freq_threads - FREQUENT_USER_MIN_THREADS * n_freq,
                            weights / weights.sum()) if n_freq else np.zeros(0, int)
    counts = np.concatenate([FREQUENT_USER_MIN_THREADS + extra, occ]).astype(np.int64)
    counts = rng.permutation(counts)
    n_users = len(counts)

    names = list(_DEPARTMENTS)
    dept_w = np.array([_DEPARTMENTS[d][0] for d in names], float)
    dept = rng.choice(len(names), size=n_users, p=dept_w / dept_w.sum())
    roles = np.empty(n_users, dtype=object)
    for d, name in enumerate(names):
        members = np.flatnonzero(dept == d)
        pool = _DEPARTMENTS[name][1]
        w = np.array(list(pool.values()), float)
        roles[members] = np.array(list(pool), dtype=object)[
            rng.choice(len(pool), size=len(members), p=w / w.sum())]
    clinician = np.zeros(n_users, bool)
    eligible = np.flatnonzero([bool(_DEPARTMENTS[names[d]][2]) for d in dept])
    n_clin = min(len(eligible), round(CLINICIAN_USER_FRACTION * n_users))
    for u in rng.choice(eligible, size=n_clin, replace=False).tolist():
        pool = _DEPARTMENTS[names[dept[u]]][2]
        w = np.array(list(pool.values()), float)
        roles[u] = list(pool)[rng.choice(len(pool), p=w / w.sum())]
        clinician[u] = True
    return {
        "counts": counts,
        "dept": np.array(names, dtype=object)[dept],
        "role": roles,
        "group": (dept * 2 + clinician).astype(np.int64),
    }


def _category_cdf(users: dict) -> np.ndarray:
    """Cumulative P(category | group), raked so the thread-weighted mix hits CATEGORY_SHARES.

    Each group (department x clinician flag) leans towards some categories;
    iterative proportional fitting rescales a common base vector until the
    mixture over the actual thread counts per group equals the target shares.
    """
    import numpy as np

    names = list(_DEPARTMENTS)
    n_groups = 2 * len(names)
    lean = np.ones((n_groups, len(CATEGORIES)))
    for d, name in enumerate(names):
        for g, clin in ((2 * d, False), (2 * d + 1, True)):
            for c, mult in _DEPARTMENTS[name][3].items():
                lean[g, CATEGORIES.index(c)] *= mult
            if clin:
                for c, mult in _CLINICIAN_LEAN.items():
                    lean[g, CATEGORIES.index(c)] *= mult
    w = np.bincount(users["group"], weights=users["counts"], minlength=n_groups)
    w = w / w.sum()
    target = np.array([CATEGORY_SHARES[c] for c in CATEGORIES])
    base = target.copy()
    for _ in range(500):
        p = base * lean
        p /= p.sum(axis=1, keepdims=True)
        marginal = w @ p
        if np.abs(marginal - target).max() < 1e-12:
            break
        base *= target / marginal
    cdf = np.cumsum(p, axis=1)
    cdf[:, -1] = 1.0
    return cdf


def _time_bins(first_day: pd.Timestamp,
               last_day: pd.Timestamp) -> tuple[np.ndarray, np.ndarray, np.datetime64]:
    """(cumulative weight, weight, origin) of (local day, hour) bins: growth x weekday x hour."""
    import numpy as np
    import pandas as pd

    days = pd.date_range(first_day, last_day, freq="D")
    t = np.linspace(0.0, 1.0, len(days))
    weekday = np.array([1.0, 1.08, 1.1, 1.05, 0.9, 0.22, 0.18])[days.day_of_week.to_numpy()]
    day_w = (1.0 + 2.5 * t) * weekday  # usage grows about 3.5-fold over the period
    hour_w = np.array([0.05, 0.04, 0.03, 0.03, 0.04, 0.08, 0.3, 0.8, 1.6, 2.2, 2.3, 2.0,
                       1.5, 2.0, 2.1, 1.8, 1.3, 0.8, 0.5, 0.4, 0.35, 0.3, 0.2, 0.1])
    w = (day_w[:, None] * hour_w[None, :]).ravel()
    w = w / w.sum()
    cum = np.cumsum(w)
    cum[-1] = 1.0
    return cum, w, np.datetime64(first_day.to_datetime64(), "s")


def _timestamps(lo: int, hi: int, n: int, bins: tuple[np.ndarray, np.ndarray, np.datetime64],
                rng: np.random.Generator) -> pd.DatetimeIndex:
    """Stratified draws from the time density for rows lo..hi-1, so times rise with row order."""
    import numpy as np
    import pandas as pd

    cum, w, origin = bins
    q = (np.arange(lo, hi) + rng.random(hi - lo)) / n
    b = np.minimum(np.searchsorted(cum, q, side="right"), len(cum) - 1)
    frac = np.clip((q - (cum[b] - w[b])) / w[b], 0.0, 1.0 - 1e-9)
    seconds = b.astype(np.int64) * 3600 + (frac * 3600).astype(np.int64)
    local = pd.DatetimeIndex(origin + seconds.astype("timedelta64[s]"))
    aware = local.tz_localize(LOCAL_TZ, ambiguous=np.zeros(len(local), bool),
                              nonexistent="shift_forward")
    return aware.tz_convert("UTC").as_unit("s")


def _make_pools(rng: np.random.Generator) -> dict[str, list[str]]:
    """Seeded pools of pasted text (paragraphs, instructions, notes, referral faxes)."""
    def paragraphs(sentences: list[str], k: int, lo: int, hi: int) -> list[str]:
        out = []
        for _ in range(k):
            idx = rng.choice(len(sentences), size=int(rng.integers(lo, hi + 1)), replace=False)
            out.append(" ".join(sentences[i] for i in idx.tolist()))
        return out

    def referral(i: int) -> str:
        pick = lambda name, s: _SLOTS[name][(i * 7919 + s) % len(_SLOTS[name])]  # noqa: E731
        return (f"Referral from {pick('doc_name', 1)} at {pick('facility', 2)} for "
                f"{pick('patient', 3)}, MRN SYN-{(i * 104729) % 1_000_000:06d}, age "
                f"{1 + i % 17}. Reason: {pick('condition', 5)}. Insurance: {pick('payer', 7)}. "
                f"Notes: {_SENTENCES_NOTE[(i * 31) % len(_SENTENCES_NOTE)]}")

    return {
        "para": paragraphs(_SENTENCES_ADMIN, 400, 2, 6),
        "instr": paragraphs(_SENTENCES_INSTR, 200, 2, 5),
        "note": paragraphs(_SENTENCES_NOTE, 200, 2, 4),
        "referral": [referral(int(i)) for i in rng.integers(0, 2**31, 200)],
        "story": paragraphs(_SENTENCES_STORY, 50, 3, 6),
        "log": paragraphs(_LOG_LINES, 50, 3, 7),
    }


def _pick_long_rows(cats: np.ndarray, k: int, rng: np.random.Generator) -> set[int]:
    """Choose exactly k rows to become long threads, preferring paste-heavy categories."""
    import numpy as np

    if k <= 0:
        return set()
    paste_heavy = {CATEGORIES.index(c) for c in (_E, _T, _H, _C, _R, _S)}
    preferred = np.flatnonzero(np.isin(cats, list(paste_heavy)))
    rest = np.flatnonzero(~np.isin(cats, list(paste_heavy)))
    take = rng.choice(preferred, size=min(k, len(preferred)), replace=False).tolist()
    if len(take) < k:
        take += rng.choice(rest, size=k - len(take), replace=False).tolist()
    return set(take)


def _texts(cats: np.ndarray, turns: np.ndarray, multi: np.ndarray, second: np.ndarray,
           long_rows: set[int], rands: list[list[int]], slots: dict,
           depts: list[str]) -> list[str]:
    """Build each thread's text: a first prompt, then follow-ups or a second intent."""
    texts: list[str] = []
    k = 0
    for i, (c, t, mi, c2, dept) in enumerate(zip(cats.tolist(), turns.tolist(), multi.tolist(),
                                                 second.tolist(), depts)):
        cat = CATEGORIES[c]
        r = rands[k]
        k += 1
        if i in long_rows:
            prompts = [_long_prompt(cat, r, slots)]
        else:
            first, details = _FIRST_C[cat], _DETAIL_C[cat]
            prompt = _fill(first[r[0] % len(first)], r, slots, dept)
            # up to two different details; their slots read the draw rotated by one or two
            n_details = (r[-1] % 1000 < _DETAIL_P * 1000) + (r[-2] % 1000 < _DETAIL_P * 1000)
            pick = (r[-1] // 1000) % len(details)
            for d in range(1, n_details + 1):
                rotated = [0, *r[d + 1:], *r[1:d + 1]]
                prompt += " " + _fill(details[pick], rotated, slots, dept)
                pick = (pick + 1 + (r[-2] // 1000) % (len(details) - 1)) % len(details)
            prompts = [prompt]
        for turn in range(1, t):
            r = rands[k]
            k += 1
            if turn == 1 and mi:
                pool = _FIRST_C[CATEGORIES[c2]]
            elif r[0] % 10 < 6:
                pool = _FOLLOW_C[cat]
            else:
                pool = _GENERIC_C
            prompts.append(_fill(pool[(r[0] // 10) % len(pool)], r, slots, dept))
        texts.append("\n".join("user: " + p for p in prompts))
    return texts


def _long_prompt(cat: str, r: list[int], slots: dict) -> str:
    """A prompt with a pasted synthetic document, 32,500-60,000 characters, on one line."""
    pool = slots[_LONG_POOL.get(cat, "para")]
    target = 32_500 + r[1] % 27_500
    parts, size, j, step = [_LONG_INTRO[cat]], len(_LONG_INTRO[cat]), r[2], 2 * (r[3] % 97) + 1
    while size < target:
        piece = pool[j % len(pool)]
        parts.append(piece)
        size += len(piece) + 1
        j += step
    return " ".join(parts)


# --------------------------------------------------------------------------- #
# Writing files
# --------------------------------------------------------------------------- #

_SUFFIX_FORMAT = {".csv": "csv", ".csv.gz": "csv", ".jsonl": "jsonl", ".parquet": "parquet",
                  ".xlsx": "xlsx"}


def write_threads(
    path: str | Path,
    n: int,
    seed: int,
    fmt: Format | None = None,
    **options,
) -> int:
    """Write ``n`` synthetic threads to ``path`` chunk by chunk; return rows written.

    ``fmt`` is inferred from the suffix when omitted (``.csv``, ``.csv.gz``,
    ``.jsonl``, ``.parquet``, ``.xlsx``). ``options`` go to ``generate_threads``.
    CSV is UTF-8 with ``\\n`` line ends (gzip with a fixed header timestamp when
    the name ends in ``.gz``, so output is byte-reproducible); CSV, JSONL and
    XLSX store ``created_at`` as ISO 8601 text (``2024-04-22T16:03:27+00:00``);
    Parquet keeps a UTC timestamp. XLSX cells are cut to 32,767 characters
    (Excel's limit; the count is logged) and at most 1,048,575 rows fit.
    """
    path = Path(path)
    if fmt is None:
        suffix = "".join(path.suffixes[-2:]).lower()
        fmt = _SUFFIX_FORMAT.get(suffix if suffix == ".csv.gz" else path.suffix.lower())
        if fmt is None:
            raise ValueError(f"cannot tell the format of {path.name}: name it .csv, .csv.gz, "
                             ".jsonl, .parquet or .xlsx, or pass fmt")
    if fmt not in ("csv", "jsonl", "parquet", "xlsx"):
        raise ValueError(f"unknown format {fmt!r}: use csv, jsonl, parquet or xlsx")
    if fmt == "xlsx" and n > EXCEL_MAX_DATA_ROWS:
        raise ValueError(f"xlsx holds at most {EXCEL_MAX_DATA_ROWS:,} rows, asked for {n:,}")
    chunks = generate_threads(n, seed=seed, **options)
    writer = {"csv": _write_csv, "jsonl": _write_jsonl, "parquet": _write_parquet,
              "xlsx": _write_xlsx}[fmt]
    rows = writer(path, chunks)
    log.info("wrote %d synthetic threads to %s (%s, seed %d)", rows, path, fmt, seed)
    return rows


def _iso(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with ``created_at`` as ISO 8601 text."""
    out = df.copy()
    out["created_at"] = df["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return out


@contextmanager
def _open_text(path: Path) -> Iterator[io.TextIOBase]:
    """A UTF-8 text stream to ``path``; gzip with mtime 0 (byte-reproducible) for ``.gz``."""
    with ExitStack() as stack:
        if path.suffix.lower() == ".gz":
            raw = stack.enter_context(open(path, "wb"))
            gz = stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0))
            yield stack.enter_context(io.TextIOWrapper(gz, encoding="utf-8", newline=""))
        else:
            yield stack.enter_context(open(path, "w", encoding="utf-8", newline=""))


def _write_csv(path: Path, chunks: Iterator[pd.DataFrame]) -> int:
    import pandas as pd

    rows = 0
    with _open_text(path) as fh:
        for df in chunks:
            _iso(df).to_csv(fh, header=rows == 0, index=False, lineterminator="\n")
            rows += len(df)
        if rows == 0:
            pd.DataFrame(columns=list(COLUMNS)).to_csv(fh, index=False, lineterminator="\n")
    return rows


def _write_jsonl(path: Path, chunks: Iterator[pd.DataFrame]) -> int:
    rows = 0
    with _open_text(path) as fh:
        for df in chunks:
            for record in _iso(df).itertuples(index=False, name=None):
                fh.write(json.dumps(dict(zip(COLUMNS, record)), ensure_ascii=False) + "\n")
            rows += len(df)
    return rows


def _write_parquet(path: Path, chunks: Iterator[pd.DataFrame]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.timestamp("s", tz="UTC") if c == "created_at" else pa.string())
                        for c in COLUMNS])
    rows = 0
    with pq.ParquetWriter(path, schema) as writer:
        for df in chunks:
            writer.write_table(pa.Table.from_pandas(df, schema=schema, preserve_index=False))
            rows += len(df)
    return rows


def _write_xlsx(path: Path, chunks: Iterator[pd.DataFrame]) -> int:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("threads")
    ws.append(list(COLUMNS))
    rows = cut = 0
    for df in chunks:
        for record in _iso(df).itertuples(index=False, name=None):
            text = record[1]
            if len(text) > EXCEL_CELL_LIMIT:
                text, cut = text[:EXCEL_CELL_LIMIT], cut + 1
            ws.append([record[0], text, *record[2:]])
        rows += len(df)
    wb.save(path)
    if cut:
        log.warning("cut %d thread texts to Excel's %d-character cell limit", cut, EXCEL_CELL_LIMIT)
    return rows


__all__ = [
    "CATEGORIES", "CATEGORY_SHARES", "CLINICIAN_ROLES", "COLUMNS", "DEPARTMENTS",
    "EXCEL_CELL_LIMIT", "FREQUENT_USER_MIN_THREADS", "LONG_THREAD_CHARS", "ROLES",
    "generate_threads", "role_group", "write_threads",
]
