/* Common definitions for the eggemo C core. */
#ifndef EMO_COMMON_H
#define EMO_COMMON_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes returned by every emo_ function. 0 is success. */
typedef enum {
    EMO_OK = 0,
    EMO_ERR_NULL = -1,        /* a required pointer was NULL */
    EMO_ERR_PARAM = -2,       /* a parameter is out of range or inconsistent */
    EMO_ERR_RATE = -3,        /* sample rate outside EMO_FS_MIN..EMO_FS_MAX */
    EMO_ERR_NONFINITE = -4,   /* an input sample was NaN or infinite */
    EMO_ERR_SHORT = -5,       /* input shorter than one analysis frame */
    EMO_ERR_CAPACITY = -6,    /* a caller buffer is too small */
    EMO_ERR_CRC = -7,         /* a frame failed its CRC check */
    EMO_ERR_FORMAT = -8,      /* a frame is malformed (length, version, COBS) */
    EMO_ERR_RANGE = -9,       /* an input sample is beyond the accepted range */
    EMO_ERR_STATE = -10,      /* not allowed in the current state (e.g. replay while stopped) */
    EMO_ERR_UNSUPPORTED = -11 /* not supported (unknown command, or not on this board) */
} emo_status_t;

/* Human-readable name of a status code (static string, never NULL). */
const char *emo_status_str(int32_t status);

#ifdef __cplusplus
}
#endif

#endif /* EMO_COMMON_H */
