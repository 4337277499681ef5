# STM32F405RG on a wearable board: 8 MHz HSE crystal, EGG front end on PA0
# (ADC1 channel 0), host link on USART1 (PA9 TX, PA10 RX).
BOARD_DIR   := boards/stm32f405
CHIP_DIR    := boards/stm32f405
BOARD_SRC   := $(BOARD_DIR)/board.c $(CHIP_DIR)/cortexm.c $(CHIP_DIR)/startup.c
BOARD_INC   := $(BOARD_DIR)
LDSCRIPT    := $(CHIP_DIR)/stm32f405.ld
# The sample ring must hold the samples the ADC delivers while the main loop is blocked
# sending (USART TX waits byte by byte, no flow control): the longest wait is a voiced
# segment's release, 256 F0 records of 29 bytes in 8 frames, ~7.5 kB = 82 ms at 921 600 Bd.
# 1024 samples (64 ms at 16 kHz) would drop ~300 samples after every 2.56 s of voicing;
# 2048 (128 ms) does not. QEMU replays over a flow-controlled link and keeps the default.
BOARD_DEFS  := -DEMO_APP_SAMPLE_RING=2048
# The chip has 64 KiB of CCM beside its 128 KiB SRAM: the board's classifier (MODEL=) keeps its
# utterance buffer and model scratch there (app/emotion.c), QEMU (no CCM) keeps them in SRAM.
BOARD_DEFS  += -DEMO_BOARD_CCM
