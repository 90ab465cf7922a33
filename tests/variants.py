"""Answer combinations the tests render.

Every value of every choice in cookiecutter.json appears in at least one variant
(``test_variants_cover_every_choice`` keeps it that way). ``default`` and ``maximal``
also run the deep layer.
"""

from __future__ import annotations

VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "minimal": {
        "python_version": "3.11",
        "serving": "none",
        "ci": "none",
        "scheduler": "none",
        "include_notebooks": "no",
        "docs": "none",
        "license": "Proprietary",
    },
    "maximal": {
        "project_name": "Fraud Scoring Service",
        "environments": "dev,staging,prod",
        "cloud": "aws",
        "prediction_store": "postgres",
        "scheduler": "kubernetes",
        "license": "Apache-2.0",
    },
    "gcp": {
        "python_version": "3.13",
        "cloud": "gcp",
        "environments": "prod",
        "license": "BSD-3-Clause",
    },
    "azure": {
        "cloud": "azure",
        "serving": "none",
        "prediction_store": "postgres",
        "environments": "test1,qa,prod",
    },
    "custom-names": {
        "project_name": "Churn",
        "project_slug": "acme-churn-model",
        "package_name": "acme_churn",
        "author_name": "Ana Müller-O'Brien",
        "description": "Quotes \"double\" and 'single' & <angle> {braces}",
    },
}
