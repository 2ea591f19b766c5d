"""The lab's pages: one line each registers a page into the navigation."""
from app.pages.energy_landscape import EnergyLandscapePage
from app.registry import register_page

register_page("Energy Landscape", EnergyLandscapePage)
