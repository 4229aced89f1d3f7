"""esmarket: clear energy-sharing markets among prosumers (Python bindings of libesmarket).

    >>> import esmarket
    >>> problem = esmarket.generate_case("energy_sharing", prosumers=1000, seed=1)
    >>> result = esmarket.clear(problem)
    >>> result.status, result.communities[0]["price"]

See README.md next to this package for the library lookup and the Result accessors.
"""
from ._api import Session, clear, generate_case, generate_case_json, prosumer_columns, schema, version
from ._native import LibraryNotFoundError, find_library, library_path
from .errors import EsmarketError
from .opendss import OpenDSSImportError, from_opendss  # OpenDSSDirect.py is imported only when called
from .result import Result
from . import plot  # matplotlib is imported only when a plot is drawn

__version__ = "0.1.0"

__all__ = [
    "EsmarketError",
    "LibraryNotFoundError",
    "OpenDSSImportError",
    "Result",
    "Session",
    "clear",
    "prosumer_columns",
    "find_library",
    "from_opendss",
    "generate_case",
    "generate_case_json",
    "library_path",
    "plot",
    "schema",
    "version",
]
