"""The lab's pages: one line each registers a page into the navigation."""
from app.pages.constraints import ConstraintsPage
from app.pages.energy_landscape import EnergyLandscapePage
from app.pages.images import ImagesPage
from app.pages.jem import JEMPage
from app.pages.rbm import RBMPage
from app.pages.samplers import SamplersPage
from app.pages.score_matching import ScoreMatchingPage
from app.pages.symmetry_latents import SymmetryLatentsPage
from app.registry import register_page

register_page("Energy Landscape", EnergyLandscapePage)
register_page("Samplers", SamplersPage)
register_page("Constraints", ConstraintsPage)
register_page("RBM", RBMPage)
register_page("Images", ImagesPage)
register_page("JEM & OOD", JEMPage)
register_page("Score Matching", ScoreMatchingPage)
register_page("Symmetry & Latents", SymmetryLatentsPage)
