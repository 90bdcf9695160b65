"""Static lists the demo seed draws from: cities, trades, names, streets, wording.

Phones are built from each city's real area codes and the 555-0100..555-0199 block,
which the North American Numbering Plan sets aside for fiction: valid, never anyone's.
"""

from typing import NamedTuple


class City(NamedTuple):
    name: str
    state: str
    time_zone: str
    area_codes: tuple[str, ...]
    latitude: float
    longitude: float
    postcodes: tuple[str, ...]
    weight: int  # how many leads, relative to the other cities


CITIES: tuple[City, ...] = (
    # Eastern
    City("New York", "NY", "America/New_York", ("212", "646", "718"), 40.7128, -74.0060,
         ("10001", "10011", "10023", "11201"), 6),
    City("Boston", "MA", "America/New_York", ("617", "857"), 42.3601, -71.0589,
         ("02108", "02116", "02134"), 3),
    City("Atlanta", "GA", "America/New_York", ("404", "470", "678"), 33.7490, -84.3880,
         ("30303", "30308", "30318"), 4),
    City("Miami", "FL", "America/New_York", ("305", "786"), 25.7617, -80.1918,
         ("33125", "33130", "33137"), 4),
    City("Charlotte", "NC", "America/New_York", ("704", "980"), 35.2271, -80.8431,
         ("28202", "28203", "28205"), 3),
    City("Detroit", "MI", "America/Detroit", ("313",), 42.3314, -83.0458,
         ("48201", "48207", "48226"), 2),
    # Central
    City("Chicago", "IL", "America/Chicago", ("312", "773", "872"), 41.8781, -87.6298,
         ("60601", "60614", "60622"), 5),
    City("Houston", "TX", "America/Chicago", ("713", "281", "832"), 29.7604, -95.3698,
         ("77002", "77006", "77019"), 4),
    City("Dallas", "TX", "America/Chicago", ("214", "469", "972"), 32.7767, -96.7970,
         ("75201", "75204", "75219"), 4),
    City("Nashville", "TN", "America/Chicago", ("615", "629"), 36.1627, -86.7816,
         ("37203", "37206", "37212"), 3),
    City("Minneapolis", "MN", "America/Chicago", ("612",), 44.9778, -93.2650,
         ("55401", "55405", "55408"), 2),
    # Mountain
    City("Denver", "CO", "America/Denver", ("303", "720"), 39.7392, -104.9903,
         ("80202", "80205", "80218"), 4),
    City("Salt Lake City", "UT", "America/Denver", ("801", "385"), 40.7608, -111.8910,
         ("84101", "84102", "84111"), 2),
    City("Albuquerque", "NM", "America/Denver", ("505",), 35.0844, -106.6504,
         ("87102", "87106", "87110"), 2),
    City("Boise", "ID", "America/Boise", ("208",), 43.6150, -116.2023,
         ("83702", "83704", "83706"), 1),
    # Arizona keeps standard time all year.
    City("Phoenix", "AZ", "America/Phoenix", ("602", "480", "623"), 33.4484, -112.0740,
         ("85003", "85004", "85016"), 4),
    City("Tucson", "AZ", "America/Phoenix", ("520",), 32.2226, -110.9747,
         ("85701", "85705", "85719"), 2),
    # Pacific
    City("Los Angeles", "CA", "America/Los_Angeles", ("213", "323", "310", "818"), 34.0522,
         -118.2437, ("90012", "90026", "90034", "90401"), 6),
    City("San Diego", "CA", "America/Los_Angeles", ("619", "858"), 32.7157, -117.1611,
         ("92101", "92103", "92116"), 3),
    City("San Francisco", "CA", "America/Los_Angeles", ("415", "628"), 37.7749, -122.4194,
         ("94103", "94110", "94117"), 3),
    City("Seattle", "WA", "America/Los_Angeles", ("206",), 47.6062, -122.3321,
         ("98101", "98103", "98122"), 3),
    City("Portland", "OR", "America/Los_Angeles", ("503", "971"), 45.5152, -122.6784,
         ("97205", "97209", "97214"), 3),
    City("Las Vegas", "NV", "America/Los_Angeles", ("702", "725"), 36.1699, -115.1398,
         ("89101", "89104", "89169"), 2),
    # Alaska and Hawaii
    City("Anchorage", "AK", "America/Anchorage", ("907",), 61.2181, -149.9003,
         ("99501", "99503", "99508"), 2),
    City("Honolulu", "HI", "Pacific/Honolulu", ("808",), 21.3069, -157.8583,
         ("96813", "96814", "96815"), 2),
)


class Trade(NamedTuple):
    category: str
    name_patterns: tuple[str, ...]  # {surname} {city} {word} are filled in
    words: tuple[str, ...]
    slug: str


TRADES: tuple[Trade, ...] = (
    Trade("Plumber", ("{surname} Plumbing", "{city} Pipe & Drain", "{word} Plumbing Co."),
          ("Reliable", "Rapid", "Blue Wave", "Trusty", "Clearflow"), "plumbing"),
    Trade("Dentist", ("{surname} Family Dentistry", "{city} Smiles", "{word} Dental Studio"),
          ("Bright", "Gentle", "Parkside", "Sunrise", "Main Street"), "dental"),
    Trade("Hair salon", ("Salon {surname}", "{word} Hair Studio", "{city} Cuts & Color"),
          ("Velvet", "Luxe", "Shear", "Bloom", "Mane Street"), "salon"),
    Trade("Roofer", ("{surname} Roofing", "{word} Roofing & Gutters", "{city} Roof Pros"),
          ("Summit", "Ironclad", "Skyline", "Peak", "Heritage"), "roofing"),
    Trade("Cafe", ("{word} Coffee House", "Cafe {surname}", "{city} Bean Co."),
          ("Morning", "Little", "Copper Kettle", "Daily Grind", "Corner"), "cafe"),
    Trade("Electrician", ("{surname} Electric", "{word} Electrical Services", "{city} Sparks"),
          ("Bright Line", "Volt", "Current", "Live Wire", "Amp"), "electric"),
    Trade("Auto repair", ("{surname} Auto Care", "{word} Garage", "{city} Tire & Brake"),
          ("Precision", "Honest", "Northside", "Pit Stop", "Torque"), "auto"),
    Trade("Landscaper", ("{surname} Landscaping", "{word} Lawn & Garden", "{city} Yard Works"),
          ("Greenleaf", "Evergreen", "Fresh Cut", "Oak & Stone", "Meadow"), "landscaping"),
    Trade("Bakery", ("{surname}'s Bakery", "{word} Bakehouse", "{city} Bread Co."),
          ("Golden Crust", "Sweet", "Rise & Shine", "Flour Box", "Hearth"), "bakery"),
    Trade("HVAC", ("{surname} Heating & Air", "{word} Comfort Systems", "{city} HVAC"),
          ("Polar", "All Season", "Cool Breeze", "Climate", "Arctic"), "hvac"),
    Trade("Nail salon", ("{word} Nails", "{city} Nail Bar", "Nails by {surname}"),
          ("Polished", "Glam", "Lacquer", "Pink Lotus", "Crystal"), "nails"),
    Trade("Chiropractor", ("{surname} Chiropractic", "{word} Spine & Wellness",
                           "{city} Chiropractic Center"),
          ("Align", "Back in Balance", "Restore", "Vital", "Core"), "chiro"),
    Trade("Pet groomer", ("{word} Pet Spa", "{city} Dog Grooming", "{surname}'s Paws"),
          ("Happy Tails", "Fluffy", "Bark & Bubbles", "Wag", "Pampered Pup"), "pets"),
    Trade("Cleaning service", ("{surname} Cleaning", "{word} Maids", "{city} Clean Team"),
          ("Sparkle", "Fresh Start", "Spotless", "Tidy", "Shine"), "cleaning"),
    Trade("Restaurant", ("{surname}'s Kitchen", "{word} Grill", "{city} Taqueria"),
          ("Smokehouse", "Olive Branch", "Harbor", "Red Brick", "Firefly"), "food"),
    Trade("Barbershop", ("{surname}'s Barbershop", "{word} Barber Co.", "{city} Fades"),
          ("Classic", "Sharp", "Gentlemen's", "Straight Razor", "Union"), "barber"),
)

FIRST_NAMES: tuple[str, ...] = (
    "James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer", "Carlos",
    "Elizabeth", "Daniel", "Susan", "Anthony", "Jessica", "Kevin", "Sarah", "Brian", "Karen",
    "Jose", "Nancy", "Tyler", "Lisa", "Marcus", "Ashley", "Andre", "Emily", "Hiro", "Grace",
    "Tomas", "Priya", "Samuel", "Olivia", "Nathan", "Sofia", "Luis", "Hannah", "Derek",
    "Keanu", "Aiyana", "Wei", "Fatima", "Omar", "Rachel", "Trevor", "Lena", "Victor", "Megan",
)

SURNAMES: tuple[str, ...] = (
    "Johnson", "Garcia", "Martinez", "Robinson", "Clark", "Rodriguez", "Lewis", "Walker",
    "Hall", "Allen", "Young", "Hernandez", "King", "Wright", "Lopez", "Hill", "Scott",
    "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Perez", "Roberts", "Turner",
    "Phillips", "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart", "Sanchez",
    "Morris", "Nguyen", "Kim", "Patel", "Kealoha", "Murphy", "Rivera", "Cooper", "Reed",
    "Bailey", "Bell", "Gomez", "Kelly", "Howard", "Ward", "Cox", "Diaz", "Brooks", "Bennett",
)

STREETS: tuple[str, ...] = (
    "Main St", "Oak Ave", "Maple St", "Park Blvd", "Washington Ave", "Lake St", "Cedar Rd",
    "Elm St", "Pine St", "Broadway", "Market St", "Highland Ave", "Sunset Blvd", "Mill Rd",
    "Church St", "Center St", "River Rd", "Franklin Ave", "Union St", "Spring St",
)

EMAIL_DOMAINS: tuple[str, ...] = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com")

OPENING_HOURS: tuple[str, ...] = (
    "Mon-Fri 8am-6pm", "Mon-Sat 9am-7pm", "Tue-Sun 7am-3pm", "Mon-Fri 7am-5pm, Sat 8am-12pm",
    "Open 24 hours", "Mon-Sat 10am-8pm",
)

# A one-sentence opener per lead, like the deterministic template fallback writes.
FIRST_LINE_TEMPLATES: tuple[str, ...] = (
    "Saw {business_name} has {review_count} reviews averaging {rating} stars in {city}, "
    "so we built you a site that shows that off.",
    "{city} folks searching for a {category_lower} should find {business_name} first, "
    "so we sketched a site to make that happen.",
    "Your {rating}-star rating deserves a website as good as your work, so we mocked one "
    "up for {business_name}.",
    "We noticed {business_name} doesn't have a website yet, so we built a preview for you "
    "to look at.",
)

# Inbound texts by the lead status they lead to.
REPLIES_POSITIVE: tuple[str, ...] = (
    "This looks great, how much is it?",
    "Who is this? The site actually looks nice",
    "Interested. Can someone call me after 3?",
    "Love it. What's included in the monthly?",
    "Can you change the colors to match our logo?",
    "Yes please send me more info",
)
REPLIES_NEGATIVE: tuple[str, ...] = (
    "STOP",
    "Not interested, thanks",
    "We already have a web guy",
    "Please remove this number",
)

CALL_NOTES: dict[str, tuple[str, ...]] = {
    "no_answer": ("Rang out, no voicemail set up.", "No answer, will try tomorrow morning."),
    "voicemail": ("Left a short voicemail with the preview link.", "VM left, mentioned reviews."),
    "interested": ("Owner liked the gallery section, wants pricing in writing.",
                   "Interested, asked about adding online booking."),
    "callback": ("Busy with a customer, call back after 4pm local.",
                 "Asked to call back next week after their busy season."),
    "not_interested": ("Happy with Facebook page for now.", "Said budget is tight this year."),
    "sold": ("Agreed on setup + monthly care, checkout link sent while on the call.",
             "Closed. Wants the site live before the holidays."),
}

USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918U) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
)

CTA_TARGETS: tuple[str, ...] = ("get_started", "call_us", "see_pricing", "book_demo")

UPSELL_PRODUCTS: tuple[tuple[str, int, bool], ...] = (
    # product, price in cents, recurring
    ("Local SEO package", 14_900, True),
    ("Online booking widget", 4_900, True),
    ("Logo refresh", 29_900, False),
    ("Extra landing page", 19_900, False),
)
