/* Bare-metal entry point: everything happens in the harness. */
#include "tp_harness.h"

int main(void)
{
    tp_harness_main();
    return 0;
}
