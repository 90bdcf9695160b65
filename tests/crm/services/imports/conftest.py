import pytest

from crm.models import CompanySettings


@pytest.fixture(autouse=True)
def us_region(db):
    """Numbers without a country code are read as US numbers (CompanySettings' default)."""
    company = CompanySettings.load()
    company.default_region = "US"
    company.save()
    return company
