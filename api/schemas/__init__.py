"""Response and request schemas, one module per entity or report, each entity one family:
``XPublic`` (one row read), ``XsPublic{data,count}`` (a page of them), ``XCreate`` (a new one)
and ``XUpdate`` (a change, carrying the version read). Shared types live in
:mod:`api.schemas.base`; money is a Decimal, rendered as a string so that it stays exact."""
