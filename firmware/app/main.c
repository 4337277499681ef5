/* The firmware's entry point: a board, the application, and an idle loop. */
#include "app.h"
#include "board.h"

int main(void)
{
    board_init();
    app_init();
    for (;;) {
        board_watchdog_kick();
        if (!app_poll()) {
            board_idle();
        }
    }
}
