"""Names shared by every layer: the package version, xarray dimensions, interval width, vocabularies."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nma")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

#: xarray / PyMC dimension names: domain terms, never generated ones.
TREATMENT, COMPARATOR, STUDY, CONTRAST, RANK = "treatment", "comparator", "study", "contrast", "rank"
ARM = "arm"
PARAMETER = "parameter"   # node-split and UME parameters (a basic effect, d_dir, or a compared pair)

#: 0.95 because HTA submissions report 95% equal-tailed CrIs; ArviZ 0.x defaults to a 94% HDI.
CI_PROB = 0.95

SETTINGS = (
    "metastatic_first_line",
    "metastatic_pretreated",
    "brain_metastases",
    "adjuvant",
    "extended_adjuvant",
    "post_neoadjuvant",
    "neoadjuvant",
)

#: Outcomes the evidence table may hold. Time-to-event outcomes carry HRs; the rest carry rates or counts.
TIME_TO_EVENT = ("pfs", "os", "idfs", "dfs", "efs", "cns_pfs", "ibcfs", "dor")
BINARY = ("orr", "pcr", "cbr")
OUTCOMES = TIME_TO_EVENT + BINARY

ARM_ROLES = ("control", "experimental")
MECHANISMS = ("antibody", "tki", "adc", "none")
SOURCE_KINDS = (
    "journal_article",
    "journal_article_abstract",
    "conference_abstract",
    "regulatory_document",
    "secondary_summary",
    "design_document",
)
