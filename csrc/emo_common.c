#include "emo_common.h"

const char *emo_status_str(int32_t status)
{
    switch (status) {
    case EMO_OK: return "ok";
    case EMO_ERR_NULL: return "a required pointer was NULL";
    case EMO_ERR_PARAM: return "parameter out of range or inconsistent";
    case EMO_ERR_RATE: return "sample rate outside 4000..96000 Hz";
    case EMO_ERR_NONFINITE: return "input contains NaN or infinity";
    case EMO_ERR_SHORT: return "input shorter than one analysis frame";
    case EMO_ERR_CAPACITY: return "caller buffer too small";
    case EMO_ERR_CRC: return "CRC mismatch";
    case EMO_ERR_FORMAT: return "malformed frame";
    case EMO_ERR_STATE: return "not allowed in the current state";
    case EMO_ERR_UNSUPPORTED: return "not supported";
    case EMO_ERR_RANGE: return "input sample beyond the accepted range";
    default: return "unknown status";
    }
}
