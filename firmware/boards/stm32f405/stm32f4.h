/*
 * stm32f4.h: the STM32F405 and Cortex-M4 registers this firmware touches
 * (RM0090 and the Cortex-M4 generic user guide). Board code only.
 */
#ifndef EMO_STM32F4_H
#define EMO_STM32F4_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(addr))

/* Cortex-M4 system control space */
#define SYST_CSR REG32(0xE000E010u)     /* SysTick control and status */
#define SYST_RVR REG32(0xE000E014u)     /* SysTick reload value */
#define SYST_CVR REG32(0xE000E018u)     /* SysTick current value */
#define NVIC_ISER(n) REG32(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) REG32(0xE000E180u + 4u * (n))
#define NVIC_IPR8(irq) (*(volatile uint8_t *)(0xE000E400u + (irq)))
#define SCB_CPACR REG32(0xE000ED88u)    /* coprocessor access (FPU: CP10, CP11) */
#define SCB_VTOR REG32(0xE000ED08u)

/* RCC */
#define RCC_BASE 0x40023800u
#define RCC_CR REG32(RCC_BASE + 0x00u)
#define RCC_PLLCFGR REG32(RCC_BASE + 0x04u)
#define RCC_CFGR REG32(RCC_BASE + 0x08u)
#define RCC_AHB1ENR REG32(RCC_BASE + 0x30u)
#define RCC_APB1ENR REG32(RCC_BASE + 0x40u)
#define RCC_APB2ENR REG32(RCC_BASE + 0x44u)
#define RCC_CSR REG32(RCC_BASE + 0x74u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_PLLCFGR_SRC_HSE (1u << 22)
#define RCC_CFGR_SW_MASK (3u << 0)
#define RCC_CFGR_SW_PLL (2u << 0)
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_CFGR_PRE_MASK ((0xFu << 4) | (7u << 10) | (7u << 13)) /* HPRE, PPRE1, PPRE2 */

/* Flash interface */
#define FLASH_ACR REG32(0x40023C00u)
#define FLASH_ACR_LATENCY_MASK 7u

/* GPIOA */
#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER REG32(GPIOA_BASE + 0x00u)
#define GPIOA_OSPEEDR REG32(GPIOA_BASE + 0x08u)
#define GPIOA_PUPDR REG32(GPIOA_BASE + 0x0Cu)
#define GPIOA_AFRH REG32(GPIOA_BASE + 0x24u)

/* USART1 (APB2) */
#define USART1_BASE 0x40011000u
#define USART1_SR REG32(USART1_BASE + 0x00u)
#define USART1_DR REG32(USART1_BASE + 0x04u)
#define USART1_BRR REG32(USART1_BASE + 0x08u)
#define USART1_CR1 REG32(USART1_BASE + 0x0Cu)
#define USART_SR_ORE (1u << 3)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_UE (1u << 13)
#define USART1_IRQN 37u

/* TIM2 (APB1) */
#define TIM2_BASE 0x40000000u
#define TIM2_CR1 REG32(TIM2_BASE + 0x00u)
#define TIM2_CR2 REG32(TIM2_BASE + 0x04u)
#define TIM2_EGR REG32(TIM2_BASE + 0x14u)
#define TIM2_PSC REG32(TIM2_BASE + 0x28u)
#define TIM2_ARR REG32(TIM2_BASE + 0x2Cu)

/* ADC1 (APB2) and the common ADC block */
#define ADC1_BASE 0x40012000u
#define ADC1_SR REG32(ADC1_BASE + 0x00u)
#define ADC1_CR1 REG32(ADC1_BASE + 0x04u)
#define ADC1_CR2 REG32(ADC1_BASE + 0x08u)
#define ADC1_SMPR2 REG32(ADC1_BASE + 0x10u)
#define ADC1_SQR1 REG32(ADC1_BASE + 0x2Cu)
#define ADC1_SQR3 REG32(ADC1_BASE + 0x34u)
#define ADC1_DR_ADDR (ADC1_BASE + 0x4Cu)
#define ADC_CCR REG32(0x40012304u)

/* DMA2 stream 0 (ADC1 is DMA2 stream 0 channel 0) */
#define DMA2_BASE 0x40026400u
#define DMA2_LISR REG32(DMA2_BASE + 0x00u)
#define DMA2_LIFCR REG32(DMA2_BASE + 0x08u)
#define DMA2_S0CR REG32(DMA2_BASE + 0x10u)
#define DMA2_S0NDTR REG32(DMA2_BASE + 0x14u)
#define DMA2_S0PAR REG32(DMA2_BASE + 0x18u)
#define DMA2_S0M0AR REG32(DMA2_BASE + 0x1Cu)
#define DMA2_S0M1AR REG32(DMA2_BASE + 0x20u)
#define DMA2_S0FCR REG32(DMA2_BASE + 0x24u)
#define DMA2_STREAM0_IRQN 56u

/* Independent watchdog */
#define IWDG_KR REG32(0x40003000u)
#define IWDG_PR REG32(0x40003004u)
#define IWDG_RLR REG32(0x40003008u)

/* Shared by both STM32F405 ports (cortexm.c). */
void cortexm_systick_start(void);
uint64_t cortexm_ticks(void);
void cortexm_idle(void);
void cortexm_irq_enable(uint32_t irq, uint8_t priority);
void cortexm_usart1_start(uint32_t brr);
void cortexm_usart1_write(const uint8_t *data, int32_t n);
void cortexm_usart1_rx_resume(void);

#endif /* EMO_STM32F4_H */
