"""Published worked examples used by the statistics tests (unit level and through the CLI)."""

from __future__ import annotations

_ = None

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders x 12 units,
# nominal, with missing values: alpha = 0.743.
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    "C": [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
}

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects x 14 raters x 5 categories; each row counts
# the raters per category. kappa = 0.210.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Gwet's published results on the Krippendorff (2011) example C data (irrCAC documentation, `raw_4raters`;
# Gwet 2014, Handbook of Inter-Rater Reliability, 4th ed.): coefficient, standard error, 95% interval
# (Student t on 11 degrees of freedom, capped at 1).
GWET_4RATERS = {
    "gwet_ac1": {"value": 0.77544, "se": 0.14295, "ci": (0.46081, 1.0), "pa": 0.81818, "pe": 0.19032},
    "fleiss_kappa": {"value": 0.76117, "se": 0.15302, "ci": (0.42438, 1.0), "pa": 0.81818, "pe": 0.23872},
}

# Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychol. Bull. 76:378: 30 patients,
# 6 psychiatrists each, 5 diagnoses (1 depression, 2 personality disorder, 3 schizophrenia, 4 neurosis,
# 5 other). Each row: the 6 diagnoses of one patient (the layout of R irr's `diagnoses`).
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5], [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4], [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4], [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5], [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4], [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4], [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
]
#: Fleiss (1971) Table 2: kappa per category and overall.
FLEISS_1971_KAPPAS = {"1": 0.245, "2": 0.245, "3": 0.520, "4": 0.471, "5": 0.566, "overall": 0.430}

# The first paradox of kappa (Feinstein & Cicchetti 1990, J. Clin. Epidemiol. 43:543; Gwet 2008): two
# raters, 100 subjects, yes/yes 80, yes/no 10, no/yes 5, no/no 5: 85% agreement, kappa 0.32, AC1 0.81.
PREVALENCE_PARADOX = {"table": [[80, 10], [5, 5]], "percent_agreement": 0.85, "kappa": 0.32, "ac1": 0.81}
