# QEMU netduinoplus2: the STM32F405's start-up, linker script and shared
# Cortex-M code, with samples replayed over USART1 instead of the ADC.
BOARD_DIR   := boards/qemu
CHIP_DIR    := boards/stm32f405
BOARD_SRC   := $(BOARD_DIR)/board.c $(CHIP_DIR)/cortexm.c $(CHIP_DIR)/startup.c
BOARD_INC   := $(BOARD_DIR) $(CHIP_DIR)
LDSCRIPT    := $(CHIP_DIR)/stm32f405.ld
