"""The one table from domain faults (mcu.errors.Fault) to wire result codes, plus the
codes the gateway itself answers (success, sessions, login).

Each code is taken from error-codes-esdk.tsv (eSDK side, 5704622xx, 5707898xx, 571052032,
21300000xx) or error-codes-smc.tsv (platform side) of the reference folder shared beside the
repository (../shared/reference/; not in the repository's reference/ copy) with the
closest meaning; the Chinese description is quoted so a reader can check the choice.
"""

from __future__ import annotations

from mcu.errors import Fault

OK = 0
SESSION_INVALID = 571052032  # 会话已失效或用户未登录
ACCOUNT_LOCKED = 2130000045  # address locked after too many wrong proofs (the task's code)
WRONG_PASSWORD = 1344274433  # 用户认证密码错误
UNKNOWN_USER = 1344274437  # 用户不存在
ALREADY_AUTHENTICATED = 570462213  # 该用户已登录，系统不允许重复登录
TOO_MANY_SESSIONS = 1344274480  # 用户的在线个数已经达到最大值{max}
MISSING_PARAMETER = 570462210  # 必填参数不全
OUT_OF_RANGE = 570462211  # 参数数据不在限定范围错误
CONFERENCE_NOT_FOUND = 570789889  # 会议不存在或未在召开中
SITE_NOT_FOUND = 570789896  # 在SDK设备列表中，该会场不存在
NO_PERMISSION = 1344274435  # 用户权限不足 (an operator and another account's conference)
# The key exchange (platformKeyMgr): the eSDK platform's own codes, from its public source
# (ESDKErrorCodeConstant, answered by PlatformKeyMgrImpl/KeyService); the tsv lists none of
# them. See gateway/session_crypto.py.
NO_SUCH_ALGORITHM = 2130000038  # 系统暂不支持该算法 (secretType other than RSA2048/AES128)
KEY_PARAMETER_MISSING = 2130000039  # 必填参数不全 (setSecretKey without secretKey)
KEY_DATA_INVALID = 2130000040  # 数值非法或超过取值范围 (no iv, or not 32 hex characters)
SECRET_KEY_UNDECRYPTABLE = 2130000042  # 解密工作密钥失败 (secretKey/iv do not RSA-decrypt)

FAULT_CODES: dict[Fault, int] = {
    Fault.MISSING_PARAMETER: MISSING_PARAMETER,
    Fault.OUT_OF_RANGE: OUT_OF_RANGE,
    Fault.BAD_PASSWORD: OUT_OF_RANGE,
    Fault.PASSWORD_DECRYPTION_FAILED: 2130000030,  # 传入参数中的密码使用RSA2048解密失败
    Fault.BAD_CP_RESOURCE: OUT_OF_RANGE,
    Fault.BAD_RECURRENCE: OUT_OF_RANGE,
    Fault.BAD_TIME: OUT_OF_RANGE,
    Fault.CONFERENCE_NOT_FOUND: CONFERENCE_NOT_FOUND,
    Fault.CONFERENCE_NOT_ONGOING: CONFERENCE_NOT_FOUND,
    Fault.CONFERENCE_ENDED: 1347420167,  # 会议"{confname}{0}"已结束。
    Fault.OCCURRENCE_NOT_FOUND: CONFERENCE_NOT_FOUND,
    Fault.NO_CONTINUOUS_PRESENCE: 1347420261,  # 会议无多画面。
    Fault.BAD_LAYOUT: 1347420262,  # 多画面类型错误。
    Fault.SITE_NOT_FOUND: SITE_NOT_FOUND,
    Fault.SITE_NOT_IN_CONFERENCE: 1347440644,  # 会场不存在。(conference-control range)
    Fault.SITE_ALREADY_IN_CONFERENCE: 1347420182,  # 会场已存在。(conference range)
    Fault.SITE_BUSY: 12375,  # 会场正忙。
    Fault.SITE_EXISTS: 1344274457,  # 会场已存在。(management range)
    Fault.SITE_NOT_CONNECTED: 1347440653,  # 指定的会场未入会。
    Fault.SOURCE_NOT_CONNECTED: 14600,  # 视频源不存在。(an input with no source plugged in)
    Fault.CAPACITY_EXCEEDED: 1347444739,  # MCU动态资源不足。
    Fault.ACCESS_CODE_CONFLICT: 8254,  # 接入号已经存在。
    Fault.MCU_NOT_FOUND: 1346371585,  # MCU不存在。
    Fault.ORGANIZATION_NOT_FOUND: 1344278530,  # 组织结构不存在。
    Fault.NOT_SUPPORTED: 1347424259,  # MCU能力不支持。
    Fault.NO_CAMERA: 1353741318,  # 智真主机返回没摄像机 (the terminal reports no camera)
    # 当前会议状态不允许控制远端摄像机 (the conference's state does not allow far-end control)
    Fault.FAR_END_CAMERA_UNAVAILABLE: 100687873,
    Fault.PRESENTATION_LOCKED: 620892501,  # 令牌已经锁定。
    Fault.CHAIR_TAKEN: 12338,  # 主席已存在。
    Fault.NOT_CHAIR: 12313,  # 请求者不是主席。
    Fault.RECORDING_NOT_SUPPORTED: 570789906,  # 会议不支持录播
    Fault.LIVE_BROADCAST_NOT_SUPPORTED: 570789907,  # 会议不支持直播
    # 用户权限不足 (user's permission insufficient): the SMC's account range 13442744xx, the
    # same as the login codes above (1344274433 wrong password, 1344274437 unknown user)
    Fault.NO_PERMISSION: NO_PERMISSION,
}


def result_code(fault: Fault) -> int:
    """The wire code answering `fault`."""
    return FAULT_CODES[fault]
