"""The lab's pages, registered into the navigation in this order under their titles."""
from app.pages.constraints import ConstraintsPage
from app.pages.energy_landscape import EnergyLandscapePage
from app.pages.images import ImagesPage
from app.pages.jem import JEMPage
from app.pages.rbm import RBMPage
from app.pages.samplers import SamplersPage
from app.pages.score_matching import ScoreMatchingPage
from app.pages.symmetry_latents import SymmetryLatentsPage
from app.registry import register_page

for page in (EnergyLandscapePage, SamplersPage, ConstraintsPage, RBMPage, ImagesPage, JEMPage, ScoreMatchingPage,
             SymmetryLatentsPage):
    register_page(page.TITLE, page)
