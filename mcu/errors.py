"""Domain errors of the MCU. The gateway maps each Fault to a wire result code in one table
(gateway/result_codes.py); mcu/ itself knows nothing of codes or SOAP."""

from __future__ import annotations

from enum import Enum, auto


class Fault(Enum):
    # parameters
    MISSING_PARAMETER = auto()  # a required value is absent
    OUT_OF_RANGE = auto()  # an enum, a number or a string outside its allowed set
    BAD_PASSWORD = auto()  # conference password not 6 digits
    PASSWORD_DECRYPTION_FAILED = auto()  # an encrypted password does not decrypt with our key
    BAD_CP_RESOURCE = auto()  # cpResouce not one of 2-10, 13, 16, 20, 24
    BAD_RECURRENCE = auto()  # interval <= 0, no weekDays/weekDay/monthDay, no occurrence
    BAD_TIME = auto()  # duration <= 0, begin time in the past where not allowed
    # conferences
    CONFERENCE_NOT_FOUND = auto()
    CONFERENCE_NOT_ONGOING = auto()  # a control operation on a conference that is not running
    CONFERENCE_ENDED = auto()  # edit/prolong of a conference that is over
    OCCURRENCE_NOT_FOUND = auto()  # beginTime names no occurrence of that conference
    NO_CONTINUOUS_PRESENCE = auto()  # conference has no CP resource for this request
    BAD_LAYOUT = auto()  # presenceMode not a layout, or more panes than cpResouce
    # sites
    SITE_NOT_FOUND = auto()  # unknown site URI (directory or conference)
    SITE_NOT_IN_CONFERENCE = auto()
    SITE_ALREADY_IN_CONFERENCE = auto()
    SITE_BUSY = auto()  # booked in an overlapping conference
    SITE_EXISTS = auto()  # directory: URI already present
    SITE_NOT_CONNECTED = auto()  # media operation on a site that is not in the conference
    SOURCE_NOT_CONNECTED = auto()  # a video input of the terminal with nothing plugged in
    # capacity
    CAPACITY_EXCEEDED = auto()  # MCU ports or CP resources exhausted in the window
    ACCESS_CODE_CONFLICT = auto()
    # MCUs and organizations
    MCU_NOT_FOUND = auto()  # an MCU id the platform does not have
    ORGANIZATION_NOT_FOUND = auto()  # an organization id not in the organization tree
    # features
    NO_CAMERA = auto()  # ctrlCameraEx: the input named has no camera connected
    FAR_END_CAMERA_UNAVAILABLE = auto()  # camState 1 from a site that watches no other site
    NOT_SUPPORTED = auto()  # a feature this platform does not offer (e.g. CP group N > 0)
    RECORDING_NOT_SUPPORTED = auto()  # the conference was booked with isRecording = 0
    LIVE_BROADCAST_NOT_SUPPORTED = auto()  # booked with isLiveBroadcast = 0 (or without recording)
    PRESENTATION_LOCKED = auto()
    CHAIR_TAKEN = auto()
    NOT_CHAIR = auto()  # releaseChairEx from a site that does not hold the chair
    # accounts
    NO_PERMISSION = auto()  # an operator acting on a conference it does not own (mcu/ownership.py)


class DomainError(Exception):
    """An operation was refused; nothing was changed."""

    def __init__(self, fault: Fault, detail: str = "") -> None:
        super().__init__(f"{fault.name}: {detail}" if detail else fault.name)
        self.fault = fault
        self.detail = detail
