"""The password rule: long enough, not a common password (or a common word dressed up with digits and
symbols), not built from the username. Pure functions; no database.

The list is small on purpose (the most common passwords in published breach corpora and the words
people in a hospital reach for first); it stops the guesses an attacker tries first, while the sign-in
throttle (see :mod:`annotator.services.accounts`) stops the rest.
"""

from __future__ import annotations

import re
import unicodedata

MIN_LENGTH = 8

# Whole passwords (compared case-insensitively and without separators: "pass-word 1" is "password1").
COMMON_PASSWORDS = frozenset("""
123456 12345678 123456789 1234567890 12345 1234567 111111 11111111 000000 00000000 121212 123123 123321
654321 666666 696969 777777 7777777 88888888 987654321 1q2w3e4r 1q2w3e4r5t 1qaz2wsx qazwsx qwerty qwerty123
qwertyuiop qwertyui asdfgh asdfghjkl zxcvbnm zxcvbnm123 password password1 password12 password123 passw0rd
p4ssw0rd pa55word pa55w0rd letmein letmein1 welcome welcome1 welcome123 iloveyou iloveyou1 trustno1 abc123
abcd1234 abc12345 aa123456 a1b2c3d4 monkey dragon master shadow sunshine princess football baseball
basketball soccer hockey superman batman starwars pokemon michael jennifer jordan23 charlie freedom
whatever hello123 hellohello secret secret123 admin admin123 administrator root toor changeme changeit
default guest guest123 login logon access access14 computer internet mustang ferrari porsche harley
killer hunter2 ranger buster thomas tigger summer winter spring autumn flower ginger cookie cheese
chocolate pepper orange banana purple yellow jessica ashley daniel andrew joshua matthew nicole
michelle amanda hannah liverpool chelsea arsenal 1234qwer qwer1234 q1w2e3r4 zaq12wsx 1qazxsw2 azerty
solo passpass samsung google apple microsoft linkedin facebook twitter instagram netflix spotify
lovely loveme babygirl angel angels family friends forever blessed jesus jesus1 godisgood
hospital hospital1 doctor doctor1 nurse nurse123 nursing medicine medical clinic clinical patient
patients health healthcare physician surgeon surgery pharmacy emergency cardiology radiology
oncology pediatrics epic epic1234 mychart chart charting annotator annotation reviewer labeler
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
""".split())

# Words that stay weak with digits or symbols around them ("Summer2024!", "Welcome#1", "password-1").
COMMON_WORDS = frozenset("""
password passw0rd p4ssw0rd pa55word qwerty qwertz azerty asdf letmein welcome iloveyou admin root guest
changeme secret login monkey dragon master shadow sunshine princess football baseball soccer superman
batman hello summer winter spring autumn fall hospital doctor nurse medicine medical clinic health
patient pharmacy epic mychart annotator reviewer january february march april june july august
september october november december monday tuesday wednesday thursday friday saturday sunday abc abcd
""".split())


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _compact(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", _normal(text))


def password_problem(password: str | None, username: str = "") -> str | None:
    """Why `password` may not be used (one sentence), or None when it is acceptable."""
    if not password:
        return f"a password is required (at least {MIN_LENGTH} characters)"
    if "\x00" in password:
        return "a password cannot contain a NUL character"
    if len(password) < MIN_LENGTH:
        return f"password must have at least {MIN_LENGTH} characters"
    compact = _compact(password)
    if len(set(_normal(password))) < 4:
        return "password is too simple: use at least four different characters"
    if compact in COMMON_PASSWORDS or _normal(password) in COMMON_PASSWORDS:
        return "password is one of the most common passwords: choose another"
    core = re.sub(r"^[^a-z]+|[^a-z]+$", "", compact)
    if core in COMMON_WORDS:
        return "password is a common word with digits or symbols around it: choose another"
    name = _compact(username or "")
    local = _compact((username or "").split("@", 1)[0])
    for part in {name, local}:
        if len(part) >= 3 and (part in compact or (compact and compact in part)):
            return "password must not contain the username"
    return None
