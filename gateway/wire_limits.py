"""The SOAP input limits: the largest value every request member may carry, and which
string members keep their white space. Part of the wire schema (gateway/wire.py).
"""

# --- input limits -------------------------------------------------------------------------
# The largest value every request member may carry (docs/security.md, "SOAP input limits"),
# keyed by member name: a name means the same thing in every type and operation that uses
# it. Neither the reference WSDL (no maxLength facet) nor WS/T 546 (only "6 digits" for a
# password) gives lengths, so these are ours, sized after what the platform's own messages
# name (error-codes-smc.tsv: site name, site URI, conference name, bill code "cannot exceed
# {max}") with room for real values. Strings count characters after trimming (see
# KEEPS_SPACES); gateway/convert.py `check_request` applies the tables to every request in
# one place (gateway/soap.py), before the service runs. Over a limit: 570462211.
MAX_CHARS: dict[str, int] = {
    # names: conference, site, template, terminal, user
    "name": 64, "userName": 64, "regUser": 64,
    # site URIs (a SIP URI, an E.164 number or an IP), wherever a request carries one
    "uri": 128, "siteUri": 128, "siteUris": 128, "mainSiteUri": 128, "chairmanUri": 128,
    "videoSourceUri": 128, "mcuUri": 128, "target": 128,
    "subPics": 160,  # a site URI, or a URI followed by "(%AUXn)"
    # identifiers
    "confId": 64, "confIds": 64, "orgId": 64,
    "accessCode": 32, "confAccessCode": 32, "confAccessCodes": 32,
    # passwords as sent: 6 digits clear, or base64 of an RSA-2048 block (344 characters)
    # or of AES blocks, with room for the line breaks MIME base64 encoders add
    "password": 512, "chairmanPassword": 512, "regPassword": 64,
    "secretKey": 512, "iv": 512,  # base64 of an RSA-2048 block
    # short values
    "rate": 16, "clientType": 32, "secretType": 32, "timeZone": 64, "billCode": 64,
    "ipAddress": 64,
    # addresses and free text
    "recorderAddr": 256, "Email": 256, "value": 128, "Content": 1024,
}
# Any string member not named above: a hard bound, so that no request member is unbounded.
DEFAULT_MAX_CHARS = 1024
# Binary members (base64 on the wire), in bytes once decoded: Authenticate's proof is a
# SHA-256 (32 bytes).
MAX_BYTES: dict[str, int] = {"encryptPassword": 64}
DEFAULT_MAX_BYTES = 1024
# The most entries of a repeated member ("unbounded" in the WSDL).
MAX_ITEMS: dict[str, int] = {
    "siteUris": 256, "confIds": 256, "confAccessCodes": 256, "sites": 256,
    "siteVolumes": 256, "subPics": 64, "mcus": 64, "weekDays": 7,
    "siteAccessInfos": 4096,  # sites x occurrences of a series, as a query answered them
    "sortItems": 16, "filters": 16, "videoCapbility": 16, "videoFormat": 16,
    "localMainSrcs": 16,
}
DEFAULT_MAX_ITEMS = 1024
# String members taken exactly as sent; every other string member is trimmed of leading
# and trailing white space before anything uses it (docs/gateway.md, "Choices where the
# standard is silent"): free text, and a directory filter's substring, where a space may be
# meant.
KEEPS_SPACES = frozenset({"Content", "value"})
