"""Demo data: a believable agency with leads, texts, previews, calls and money.

`demo_seed()` is the one entry point; the modules beside it build the parts.
"""

from .company import DEMO_ADMIN as DEMO_ADMIN
from .company import DEMO_LOGINS as DEMO_LOGINS
from .company import DEMO_REPS as DEMO_REPS
from .seed import DemoSeedRefused as DemoSeedRefused
from .seed import DemoSeedResult as DemoSeedResult
from .seed import demo_data_present as demo_data_present
from .seed import demo_seed as demo_seed
from .seed import demo_seed_refusal as demo_seed_refusal
