"""The content stream's picture of an aux input: what a terminal shares when the MCU chose a
PC or a document camera as its aux source (setMainAuxStreamSourcesEx's localAuxSrc, the
`sources` message's `aux`).

The picture is the input's own (terminals/input_pictures.py: the PC's desktop, the
document camera's sheet of paper) at the content size, with
- the content marker card (terminals/marker.py) of the sharing site, so the MCU's panes and
  the receivers identify the site's content as for a document page; its kind says the
  input's kind (CONTENT_INPUT_KINDS: 0 a PC, 1 a document camera) and its page is
  CONTENT_INPUT_PAGE, the slot no document page uses, so a receiver knows it is an input's
  picture and not a page it could re-render (no sharpness figure is taken of it);
- the input tag (input_pictures.draw_input_tag) saying which input it is.
A terminal without a chosen aux input of one of these kinds shares its document pages
(terminals/documents.py) as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from terminals.documents import check_size
from terminals.input_pictures import document_picture, draw_input_tag, pc_picture
from terminals.marker import CONTENT_INPUT_PAGE, ContentMarkerPainter

CONTENT_INPUT_KINDS = ("pc", "doc-camera")  # index = the content marker's kind


@dataclass(frozen=True, slots=True)
class InputPage:
    """An aux input's picture as one "page" of the content stream."""

    input_kind: str  # one of CONTENT_INPUT_KINDS
    input_id: int

    def __post_init__(self) -> None:
        if self.input_kind not in CONTENT_INPUT_KINDS:
            raise ValueError(f"no content picture for an input of kind {self.input_kind!r}")

    @property
    def kind(self) -> int:
        """The content marker's kind."""
        return CONTENT_INPUT_KINDS.index(self.input_kind)

    @property
    def page(self) -> int:
        """The content marker's page: the input slot."""
        return CONTENT_INPUT_PAGE


def render_input_page(page: InputPage, site_index: int, width: int, height: int,
                      frame_index: int = 0) -> np.ndarray:
    """The input's picture as a new BGR picture: its content marker card showing
    `frame_index` and its input tag."""
    check_size(width, height)
    picture = (pc_picture if page.input_kind == "pc" else document_picture)(
        width, height, page.input_id).copy()
    ContentMarkerPainter(width, height).draw(picture, site_index, page.kind, page.page,
                                             frame_index)
    draw_input_tag(picture, page.input_kind, page.input_id)
    return picture
