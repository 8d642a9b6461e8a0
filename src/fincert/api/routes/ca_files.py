"""CA certificates in DER at the caIssuers URLs written into certificates."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from fincert.api.params import RowId

router = APIRouter(tags=["ca"])


@router.get(
    "/ca/{authority_id}.crt",
    summary="A CA certificate (DER), as named in caIssuers",
    response_class=Response,
    responses={200: {"description": "The DER certificate.", "content": {"application/pkix-cert": {"schema": {"type": "string", "format": "binary"}}}}},
)
def ca_certificate(authority_id: RowId, request: Request) -> Response:
    der = request.app.state.runtime.ca.authority_certificate(authority_id)
    return Response(der, media_type="application/pkix-cert", headers={"Cache-Control": "public, max-age=86400"})


# HEAD as well as GET (RFC 9110 §9.1), as for the CRLs.
router.add_api_route("/ca/{authority_id}.crt", ca_certificate, methods=["HEAD"], include_in_schema=False)
