/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Placeholder until the CLI lands. */
#include "config.h"
int main(void) { return 0; }
