/*
 * tp_profile.h - the aot model's per-layer hooks, reporting to the harness. tp_common.h
 * includes it when the build defines TP_PROFILE (see tinypipe/runtime/tp_common.h).
 */
#ifndef TP_PROFILE_H
#define TP_PROFILE_H

#ifdef TP_PROFILE
#include "tp_glue.h"

#define TP_LAYER_BEGIN(index) tp_profile_begin((uint32_t)(index))
#define TP_LAYER_END(index) tp_profile_end((uint32_t)(index))
#endif

#endif /* TP_PROFILE_H */
