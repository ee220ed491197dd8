"""The sample parties of the demo corridor: its real operators plus fictitious shippers.

Operators carry the facilities and services they run, so visibility and posting rights follow
from the data; EDIFACT interchange ids are the ones the twin's messages use.
"""

from __future__ import annotations

from ..domain.parties import Party, Role

R = Role


def _p(pid, name, roles, country=None, facilities=(), services=(), edi=()):
    return Party(pid, name, frozenset(roles), country, frozenset(facilities), frozenset(services), tuple(edi))


DEMO_PARTIES: list[Party] = [
    _p("CRCT", "China Railway Container Transport", {R.RAILWAY}, "CN",
       {"CN_XIA", "CN_CQI", "CN_LYG", "CN_URM", "CN_AKL", "CN_HRS"}, edi=("CRCT",)),
    _p("KTZ", "Kazakhstan Temir Zholy (KTZ Express)", {R.RAILWAY, R.TERMINAL}, "KZ",
       {"KZ_DOS", "KZ_ALT", "KZ_ALA"}, edi=("KTZ", "KTZE")),
    _p("PORTAKTAU", "Aktau International Sea Trade Port", {R.TERMINAL}, "KZ", {"KZ_AKX"}, edi=("KZAAUPORT",)),
    _p("PORTKURYK", "Kuryk port ferry complex", {R.TERMINAL}, "KZ", {"KZ_KUR"}, edi=("KZKURPORT",)),
    _p("TMPORT", "Turkmenbashi International Seaport", {R.TERMINAL}, "TM", {"TM_TMB"}, edi=("TMKRWPORT",)),
    _p("ASCO", "Azerbaijan Caspian Shipping Company", {R.FERRY_OPERATOR}, "AZ", edi=("ASCO",)),
    _p("KMTF", "KazMorTransFlot", {R.FERRY_OPERATOR}, "KZ", edi=("KMTF",)),
    _p("PORTBAKU", "Baku International Sea Trade Port (Alat)", {R.TERMINAL}, "AZ", {"AZ_ALA"}, edi=("AZALAPORT",)),
    _p("ADY", "Azerbaijan Railways (ADY)", {R.RAILWAY}, "AZ", {"AZ_ABS", "AZ_BKS"}, edi=("ADY",)),
    _p("GR", "Georgian Railway", {R.RAILWAY}, "GE", {"GE_GAR", "GE_TBS", "GE_MAR", "GE_AKH", "GE_KRT"},
       edi=("GR",)),
    _p("POTIPORT", "Poti Sea Port / APM Terminals Poti", {R.TERMINAL}, "GE", {"GE_PTI"}, edi=("GEPTIPORT",)),
    _p("BATUMIPORT", "Batumi Sea Port", {R.TERMINAL}, "GE", {"GE_BUS"}, edi=("GEBUSPORT",)),
    _p("TCDD", "TCDD Taşımacılık", {R.RAILWAY}, "TR", {"TR_KRS", "TR_IST", "TR_MER"}, edi=("TCDD",)),
    _p("ACME", "Acme Electronics (Xi'an) — demo shipper", {R.SHIPPER}, "CN"),
    _p("BOSPHORUS", "Bosphorus Textiles — demo shipper", {R.SHIPPER}, "TR"),
    _p("SILKWAY", "Silk Way Logistics — demo forwarder", {R.FORWARDER}, "KZ"),
    _p("KZCUSTOMS", "State Revenue Committee of Kazakhstan (customs)", {R.AUTHORITY}, "KZ"),
]
