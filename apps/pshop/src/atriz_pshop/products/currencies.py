"""ISO 4217 currency codes a shop can price in (the standard's list of current currencies,
without funds, precious metals, bond units and the testing codes)."""

from decimal import Decimal

__all__ = ["ISO_4217", "format_amount"]

# One string split at import: 160 codes read better as a block than as a list literal.
_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF
    XPF YER ZAR ZMW ZWG ZWL
"""
ISO_4217 = frozenset(_CODES.split())

# ISO 4217's minor unit of each code above: how many digits follow the decimal point (a price of
# 1000 minor units is 1000 JPY, 10.00 EUR, 1.000 KWD). Two unless listed here.
_NO_MINOR_UNIT = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_THOUSANDTHS = "BHD IQD JOD KWD LYD OMR TND"
_MINOR_UNIT_DIGITS = {
    **dict.fromkeys(_NO_MINOR_UNIT.split(), 0),
    **dict.fromkeys(_THOUSANDTHS.split(), 3),
}


def format_amount(minor: int, currency: str) -> str:
    """An amount in minor units as people read it: `1000 JPY`, `10.00 EUR`, `1.000 KWD`."""
    digits = _MINOR_UNIT_DIGITS.get(currency, 2)
    return f"{Decimal(minor).scaleb(-digits):.{digits}f} {currency}"
